"""Keep Salesforce in step with LogiSense Billing."""
