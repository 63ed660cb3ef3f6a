/** Metrics a limit can be set for (`--limit users=100000`); apart from review.ts so the CLI's help does not load the review. */
export const CAPACITY_METRICS = ["users", "content", "database", "blobs", "storage", "connections", "requests"] as const;
