variable "environment" {
  description = "Which environment this state describes: staging or production."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "eu-central-1"
}

variable "vpc_cidr" {
  description = "Address range of the environment's network."
  type        = string
  default     = "10.40.0.0/16"
}

variable "kubernetes_version" {
  description = "EKS control plane version."
  type        = string
  default     = "1.31"
}

variable "kubernetes_api_allowed_cidrs" {
  description = "Who may reach the Kubernetes API endpoint (operators' networks, CI)."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the worker nodes."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "database_instance_class" {
  description = "PostgreSQL instance class."
  type        = string
  default     = "db.m6g.large"
}

variable "database_storage_gb" {
  description = "Initial PostgreSQL storage; it grows on its own up to four times this."
  type        = number
  default     = 100
}

variable "redis_node_type" {
  description = "Redis node type."
  type        = string
  default     = "cache.m6g.large"
}
