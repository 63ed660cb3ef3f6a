# What the platform's configuration needs (docs/deployment.md shows where each goes).
output "environment" {
  value = var.environment
}

output "kubernetes_namespace" {
  description = "The overlay to apply: deployment/kubernetes/overlays/<environment>."
  value       = "azora-${var.environment}"
}

output "cluster_name" {
  value = aws_eks_cluster.main.name
}

output "cluster_endpoint" {
  value = aws_eks_cluster.main.endpoint
}

output "kubeconfig_command" {
  value = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.main.name}"
}

output "database_host" {
  description = "externalName of the `database` Service; the host in DATABASE_URL."
  value       = aws_db_instance.main.address
}

output "database_port" {
  value = aws_db_instance.main.port
}

output "database_name" {
  value = aws_db_instance.main.db_name
}

output "database_user" {
  value = aws_db_instance.main.username
}

output "database_password_secret_arn" {
  description = "Secrets Manager entry holding the generated database password (for DATABASE_URL)."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "redis_host" {
  description = "The host in REDIS_URL (rediss://, TLS)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "redis_port" {
  value = aws_elasticache_replication_group.main.port
}

output "redis_auth_token_secret_arn" {
  description = "Secrets Manager entry holding the Redis AUTH token (for REDIS_URL)."
  value       = aws_secretsmanager_secret.redis.arn
}

output "s3_region" {
  description = "S3_REGION."
  value       = var.region
}

output "blobs_bucket" {
  description = "S3_BUCKET: attachments."
  value       = aws_s3_bucket.platform["blobs"].bucket
}

output "backups_bucket" {
  description = "Bucket for backup copies."
  value       = aws_s3_bucket.platform["backups"].bucket
}
