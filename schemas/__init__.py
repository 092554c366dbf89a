"""Shared contract: Oura data types, Avro schemas, topics, codec and connection settings."""
