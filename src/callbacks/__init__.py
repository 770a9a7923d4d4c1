"""Lightning callbacks: what happens around fit (prior bias, base-vs-tuned, checkpoints) and
after it (the analyses of the best checkpoint and the run's records). Listed in
``conf/callbacks/``; each works from a plain ``lightning.Trainer`` too."""
