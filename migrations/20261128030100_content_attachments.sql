-- Owned by the users service: files attached to content. The bytes live in the blob store under their
-- SHA-256 (equal files are stored once); a blob is removed when its last row goes.
CREATE TABLE attachments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  content_id uuid NOT NULL REFERENCES content (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  filename text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
  content_type text NOT NULL,
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX attachments_content_idx ON attachments (content_id, created_at);

CREATE INDEX attachments_owner_idx ON attachments (owner_id);

CREATE INDEX attachments_sha256_idx ON attachments (sha256);
