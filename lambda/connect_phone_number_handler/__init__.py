"""The Lambda asset: the handler of Custom::ConnectPhoneNumber (``index.on_event``), on the standard library and boto3 only."""
