"""Playpen trainer. Its contract is proto/playpen/trainer/v1 (TrainerService); the service is built in
the trainer issue: durable episode ingestion, online GRPO, SFT/DPO, checkpoints."""
