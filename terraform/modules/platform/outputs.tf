output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "rds_address" {
  description = "PostgreSQL host."
  value       = module.rds.address
}

output "rds_master_user_secret_arn" {
  description = "Secret with the RDS master credentials (for creating the application roles once)."
  value       = module.rds.master_user_secret_arn
}

output "msk_bootstrap_brokers_iam" {
  description = "MSK bootstrap brokers, SASL/IAM."
  value       = module.msk.bootstrap_brokers_iam
}

output "msk_bootstrap_brokers_scram" {
  description = "MSK bootstrap brokers, SASL/SCRAM."
  value       = module.msk.bootstrap_brokers_scram
}

output "secret_names" {
  description = "Secrets Manager secrets to fill (docs/deploy.md)."
  value       = module.secrets.secret_names
}

output "irsa_role_arns" {
  description = "IAM role per ServiceAccount."
  value       = module.irsa.role_arns
}

# Everything the Helm chart needs from this environment, in values.yaml's shape: the deploy
# workflow writes it to a file and passes it to helm as an extra values file.
output "helm_values" {
  description = "Helm values generated from the infrastructure."
  value = {
    image = { repository = var.ecr_repository_url }
    database = {
      host = module.rds.address
      port = module.rds.port
      # The instance's certificate is checked against the RDS CA bundle in the image.
      sslMode = "verify-full"
    }
    kafka = {
      bootstrapServers = var.kafka_auth == "iam" ? module.msk.bootstrap_brokers_iam : module.msk.bootstrap_brokers_scram
      securityProtocol = "SASL_SSL"
      saslMechanism    = var.kafka_auth == "iam" ? "OAUTHBEARER" : "SCRAM-SHA-512"
      awsRegion        = var.region
    }
    externalSecrets = {
      region = var.region
      remoteKeys = {
        database        = module.secrets.secret_names["database"]
        jwt             = module.secrets.secret_names["jwt"]
        oura            = module.secrets.secret_names["oura"]
        tokenEncryption = module.secrets.secret_names["token-encryption"]
        grafana         = module.secrets.secret_names["grafana"]
        kafka           = lookup(module.secrets.secret_names, "kafka", "AmazonMSK_myhealth_${var.environment}_app")
      }
    }
    serviceAccounts = {
      gateway         = { roleArn = module.irsa.role_arns["gateway"] }
      processor       = { roleArn = module.irsa.role_arns["processor"] }
      collector       = { roleArn = module.irsa.role_arns["collector"] }
      migrations      = { roleArn = module.irsa.role_arns["migrations"] }
      externalSecrets = { roleArn = module.irsa.role_arns["external-secrets"] }
    }
    networkPolicy = {
      egressCidrs      = [var.vpc_cidr]
      probeSourceCidrs = [var.vpc_cidr]
    }
  }
}
