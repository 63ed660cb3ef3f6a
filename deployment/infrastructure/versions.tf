# Azora OS's cloud: network, managed Kubernetes, PostgreSQL with point-in-time recovery, Redis and S3.
#   cd deployment/infrastructure
#   terraform init -backend-config=backend.hcl   # bucket, key, region of the state (kept outside git)
#   terraform plan -var="environment=production"
# One state per environment: a separate backend key (or workspace) for staging and production.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Partial configuration: the state bucket is named at init (-backend-config), never in git.
  backend "s3" {
    encrypt = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
