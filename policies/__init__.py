"""Dataset windows, the flow-matching action expert, the trainer, the RTC runtime, rollout and evaluation."""
