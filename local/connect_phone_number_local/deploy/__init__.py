"""Local deploy: plays CloudFormation for this library's custom resources against the emulator."""
