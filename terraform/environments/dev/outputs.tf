output "cluster_name" {
  description = "EKS cluster name."
  value       = module.platform.cluster_name
}

output "rds_address" {
  description = "PostgreSQL host."
  value       = module.platform.rds_address
}

output "rds_master_user_secret_arn" {
  description = "Secret holding the RDS master credentials."
  value       = module.platform.rds_master_user_secret_arn
}

output "secret_names" {
  description = "Secrets Manager secrets to fill before the first helm install."
  value       = module.platform.secret_names
}

output "irsa_role_arns" {
  description = "IAM role per ServiceAccount."
  value       = module.platform.irsa_role_arns
}

output "msk_bootstrap_brokers_iam" {
  description = "MSK bootstrap brokers, SASL/IAM."
  value       = module.platform.msk_bootstrap_brokers_iam
}

output "msk_bootstrap_brokers_scram" {
  description = "MSK bootstrap brokers, SASL/SCRAM."
  value       = module.platform.msk_bootstrap_brokers_scram
}

output "helm_values" {
  description = "Extra Helm values file for this environment (terraform output -json helm_values)."
  value       = module.platform.helm_values
}
