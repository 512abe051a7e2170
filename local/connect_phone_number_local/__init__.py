"""Local tools for cdk-connect-phone-number: the Connect emulator, the local deploy and the pytest fixture.

They never load aws_cdk: importing them starts no Node process.
"""
