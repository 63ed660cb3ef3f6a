locals {
  name       = "azora-${var.environment}"
  production = var.environment == "production"

  tags = {
    "app.kubernetes.io/part-of" = "azora-os"
    environment                 = var.environment
    managed-by                  = "terraform"
  }
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_caller_identity" "current" {}

# One key for everything this environment stores: database, Redis, buckets, Kubernetes secrets.
resource "aws_kms_key" "platform" {
  description             = "${local.name}: data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = local.production ? 30 : 7
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.platform.key_id
}
