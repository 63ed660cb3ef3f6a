# S3: attachments (blobs) and backups. Versioned, encrypted with the environment's key, never public,
# with lifecycle rules so old versions and old backups do not pile up for ever.
locals {
  buckets = {
    blobs   = { noncurrent_days = 30, archive_days = null, expire_days = null }
    backups = { noncurrent_days = 7, archive_days = 30, expire_days = 400 }
  }
}

resource "aws_s3_bucket" "platform" {
  for_each = local.buckets
  bucket   = "${local.name}-${each.key}-${data.aws_caller_identity.current.account_id}"

  # A production bucket with data in it is never removed by terraform destroy.
  force_destroy = !local.production
}

resource "aws_s3_bucket_versioning" "platform" {
  for_each = aws_s3_bucket.platform
  bucket   = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "platform" {
  for_each = aws_s3_bucket.platform
  bucket   = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.platform.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "platform" {
  for_each = aws_s3_bucket.platform
  bucket   = each.value.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "platform" {
  for_each = aws_s3_bucket.platform
  bucket   = each.value.id

  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = local.buckets[each.key].noncurrent_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = local.buckets[each.key].archive_days == null ? [] : [local.buckets[each.key]]
    content {
      id     = "archive-then-expire"
      status = "Enabled"
      filter {}

      transition {
        days          = rule.value.archive_days
        storage_class = "GLACIER_IR"
      }

      expiration {
        days = rule.value.expire_days
      }
    }
  }
}
