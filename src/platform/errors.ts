/** The closed set of error codes a client can see, each with its HTTP status. */
export const errorStatus = {
  invalid_json: 400,
  invalid_request: 400,
  invalid_reset_token: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  invalid_token: 401,
  token_reused: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  expectation_failed: 417,
  unsupported_media_type: 415,
  rate_limited: 429,
  headers_too_large: 431,
  internal_error: 500,
  bad_gateway: 502,
  service_unavailable: 503,
  upstream_unavailable: 503,
  maintenance: 503,
  database_unavailable: 503,
  gateway_timeout: 504,
  storage_full: 507,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** The one error type of the domain: a code from the closed list and a message safe to show. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.status = errorStatus[code];
    this.details = options.details;
    this.headers = options.headers;
  }
}

export const errors = {
  forbidden: (message = "You are not allowed to do this.") => new AppError("forbidden", message),
  notFound: (what = "Resource") => new AppError("not_found", `${what} not found.`),
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: Record<string, unknown> };
}

/** The one body shape for every error response. */
export function errorBody(error: AppError, requestId: string): ErrorBody {
  const body: ErrorBody = { error: { code: error.code, message: error.message, requestId } };
  if (error.details) body.error.details = error.details;
  return body;
}

/** Turns anything thrown into an AppError; unknown errors become a generic 500 (details go to the log only). */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const fastifyCode = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (fastifyCode) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new AppError("invalid_json", "The request body is not valid JSON.");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new AppError("payload_too_large", "The request body is too large.");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new AppError("unsupported_media_type", "Send the request body as application/json.");
    case "FST_ERR_CTP_INVALID_TYPE":
      return new AppError("invalid_request", "The Content-Type header is invalid.");
  }
  if (isStorageFull(error)) {
    return new AppError("storage_full", "The server has no room left to store this; try again later.", { headers: { "retry-after": "60" } });
  }
  if (error instanceof SyntaxError && (error as { statusCode?: number }).statusCode === 400) {
    return new AppError("invalid_json", "The request body is not valid JSON.");
  }
  const status = typeof error === "object" && error !== null ? (error as { statusCode?: unknown }).statusCode : undefined;
  if (status === 413) return new AppError("payload_too_large", "The request body is too large.");
  if (status === 415) return new AppError("unsupported_media_type", "Send the request body as application/json.");
  if (typeof status === "number" && status >= 400 && status < 500) return new AppError("invalid_request", "The request is malformed.");
  return new AppError("internal_error", "Something went wrong on our side. Quote the request id when reporting it.");
}

/**
 * A write the disk had no room for: the file system's ENOSPC or EDQUOT, or PostgreSQL's disk_full (53100),
 * found on the error or on its cause.
 */
function isStorageFull(error: unknown, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 3) return false;
  const code = (error as { code?: unknown }).code;
  if (code === "ENOSPC" || code === "EDQUOT" || code === "53100") return true;
  return isStorageFull((error as { cause?: unknown }).cause, depth + 1);
}
