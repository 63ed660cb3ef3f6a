# PostgreSQL, reachable only from the cluster. Point-in-time recovery: the provider archives WAL
# continuously and keeps backup_retention_period days of it (any second within the window restores).
# The master password is generated and kept in Secrets Manager by the provider: never in state or git.
resource "aws_db_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_security_group" "database" {
  name        = "${local.name}-database"
  description = "PostgreSQL from the Kubernetes cluster only"
  vpc_id      = aws_vpc.main.id

  ingress {
    description     = "PostgreSQL from the cluster"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_eks_cluster.main.vpc_config[0].cluster_security_group_id]
  }
}

resource "aws_db_parameter_group" "main" {
  name   = "${local.name}-postgres16"
  family = "postgres16"

  # The platform's TLS URL (sslmode=require) is the only way in.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # azora db analyze-queries reads pg_stat_statements.
  parameter {
    name         = "shared_preload_libraries"
    value        = "pg_stat_statements"
    apply_method = "pending-reboot"
  }
}

resource "aws_db_instance" "main" {
  identifier     = local.name
  engine         = "postgres"
  engine_version = "16"
  instance_class = var.database_instance_class
  db_name        = "azora"
  username       = "azora"

  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.platform.arn

  allocated_storage     = var.database_storage_gb
  max_allocated_storage = var.database_storage_gb * 4
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.platform.arn

  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.database.id]
  parameter_group_name   = aws_db_parameter_group.main.name
  publicly_accessible    = false
  multi_az               = local.production

  # Point-in-time recovery window, in days.
  backup_retention_period = local.production ? 35 : 7
  backup_window           = "01:00-01:45"
  maintenance_window      = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot   = true

  deletion_protection       = local.production
  skip_final_snapshot       = !local.production
  final_snapshot_identifier = "${local.name}-final"

  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.platform.arn
  auto_minor_version_upgrade      = true
  apply_immediately               = !local.production
}
