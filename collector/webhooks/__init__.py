"""Oura webhooks on the collector's side: the app's subscriptions and the fetcher that turns
announced documents into raw records."""
