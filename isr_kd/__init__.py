"""ISR-KD, the paper plug-in: face -> cartoon incremental super-resolution with knowledge distillation."""
