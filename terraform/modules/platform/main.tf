# One environment of the platform: network, EKS, RDS, MSK, secrets and the workloads' IAM roles.
# environments/<env>/main.tf calls this with the environment's sizes and safety settings.

locals {
  name = "myhealth-${var.environment}"
  tags = {
    Project     = "myhealth"
    Environment = var.environment
    ManagedBy   = "terraform"
  }
}

# Customer key for the CloudWatch log groups (VPC flow logs, MSK broker logs).
module "logs_kms" {
  source      = "../kms"
  description = "${local.name} CloudWatch logs"
  extra_statements = [{
    sid        = "CloudWatchLogs"
    actions    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    principals = ["logs.${var.region}.amazonaws.com"]
  }]
  tags = local.tags
}

moved {
  from = aws_kms_key.logs
  to   = module.logs_kms.aws_kms_key.this
}

module "networking" {
  source                  = "../networking"
  name                    = local.name
  cidr                    = var.vpc_cidr
  azs                     = var.azs
  single_nat_gateway      = var.single_nat_gateway
  flow_log_retention_days = var.log_retention_days
  kms_key_arn             = module.logs_kms.arn
  tags                    = local.tags
}

module "eks" {
  source              = "../eks"
  name                = local.name
  kubernetes_version  = "1.33"
  vpc_id              = module.networking.vpc_id
  subnet_ids          = module.networking.private_subnet_ids
  public_access_cidrs = var.eks_public_access_cidrs
  admin_role_arns     = var.eks_admin_role_arns
  node_groups         = var.eks_node_groups
  log_retention_days  = var.log_retention_days
  tags                = local.tags
}

module "secrets" {
  source               = "../secrets-manager"
  name                 = local.name
  environment          = var.environment
  kafka_scram          = var.kafka_auth == "scram"
  recovery_window_days = var.environment == "prod" ? 30 : 7
  tags                 = local.tags
}

module "rds" {
  source                              = "../rds"
  name                                = local.name
  vpc_id                              = module.networking.vpc_id
  subnet_ids                          = module.networking.private_subnet_ids
  allowed_security_group_ids          = [module.eks.cluster_security_group_id]
  engine_version                      = "15"
  instance_class                      = var.rds_instance_class
  multi_az                            = var.rds_multi_az
  backup_retention_days               = var.rds_backup_retention_days
  deletion_protection                 = var.rds_deletion_protection
  skip_final_snapshot                 = var.rds_skip_final_snapshot
  performance_insights_retention_days = var.rds_performance_insights_retention_days
  tags                                = local.tags
}

module "msk" {
  source                     = "../msk"
  name                       = local.name
  kafka_version              = "4.1.x.kraft"
  vpc_id                     = module.networking.vpc_id
  subnet_ids                 = module.networking.private_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  broker_instance_type       = var.msk_broker_instance_type
  broker_volume_gib          = var.msk_broker_volume_gib
  iam_auth                   = true
  scram_auth                 = var.kafka_auth == "scram"
  scram_secret_arns          = var.kafka_auth == "scram" ? [module.secrets.secret_arns["kafka"]] : []
  log_retention_days         = var.log_retention_days
  logs_kms_key_arn           = module.logs_kms.arn
  tags                       = local.tags
}

module "irsa" {
  source               = "../irsa"
  name                 = local.name
  oidc_provider_arn    = module.eks.oidc_provider_arn
  oidc_provider_url    = module.eks.oidc_provider_url
  namespace            = var.k8s_namespace
  release_name         = var.helm_release
  msk_cluster_arn      = module.msk.cluster_arn
  msk_topic_arn_prefix = module.msk.topic_arn_prefix
  msk_group_arn_prefix = module.msk.group_arn_prefix
  secret_arns          = values(module.secrets.secret_arns)
  secrets_kms_key_arn  = module.secrets.kms_key_arn
  tags                 = local.tags
}
