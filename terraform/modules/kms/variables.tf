variable "description" {
  description = "Description of the key."
  type        = string
}

variable "extra_statements" {
  description = "Key policy statements beyond account administration, e.g. a service principal allowed to use the key (resource is the key itself)."
  type = list(object({
    sid            = string
    actions        = list(string)
    principals     = list(string)
    principal_type = optional(string, "Service")
  }))
  default = []
}

variable "alias" {
  description = "Alias name without the alias/ prefix; null for no alias."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
