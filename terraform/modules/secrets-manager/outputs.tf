output "kms_key_arn" {
  description = "KMS key encrypting the secrets."
  value       = module.kms.arn
}

output "secret_arns" {
  description = "Secret ARNs by short name."
  value = merge(
    { for k, s in aws_secretsmanager_secret.app : k => s.arn },
    var.kafka_scram ? { kafka = aws_secretsmanager_secret.kafka_scram[0].arn } : {},
  )
}

output "secret_names" {
  description = "Secret names by short name (externalSecrets.remoteKeys in the Helm values)."
  value = merge(
    { for k, s in aws_secretsmanager_secret.app : k => s.name },
    var.kafka_scram ? { kafka = aws_secretsmanager_secret.kafka_scram[0].name } : {},
  )
}
