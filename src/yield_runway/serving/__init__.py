"""AWS Lambda serving: the HTTP predictions API and the hourly scheduled inference run."""
