# dev: smallest sizes; single-AZ RDS with short backups and no deletion protection, so the
# environment can be torn down and rebuilt. (MSK still needs three brokers in three AZs.)

data "aws_caller_identity" "current" {}

module "platform" {
  source = "../../modules/platform"

  environment        = "dev"
  region             = var.region
  azs                = ["${var.region}a", "${var.region}b", "${var.region}c"]
  vpc_cidr           = "10.10.0.0/16"
  single_nat_gateway = true
  ecr_repository_url = var.ecr_repository_url

  eks_public_access_cidrs = var.eks_public_access_cidrs
  eks_admin_role_arns     = concat(var.eks_admin_role_arns, ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/myhealth-deploy-dev"])
  eks_node_groups = {
    general = {
      instance_types = ["t3.large"]
      min_size       = 2
      max_size       = 4
      desired_size   = 2
    }
  }

  rds_instance_class        = "db.t4g.small"
  rds_multi_az              = false
  rds_backup_retention_days = 7
  rds_deletion_protection   = false
  rds_skip_final_snapshot   = true

  msk_broker_instance_type = "kafka.m7g.large"
  msk_broker_volume_gib    = 100
  kafka_auth               = "iam"
  log_retention_days       = 365
}
