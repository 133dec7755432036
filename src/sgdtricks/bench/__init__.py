"""`make bench`: training images/s of our path against the pipeline users would otherwise write.

Measured in one process, on the same model, batch size, optimizer and images:

    ours        run.loop.train_epoch itself: uint8 images on the device, batched crop+flip, channels_last
    standard    the pytorch-cifar / pytorch/examples way: a Dataset of PIL images through torchvision's
                RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize and a DataLoader with
                num_workers=2, fp32, default memory format, `.item()` every batch
    model_only  run.loop.train_step on batches already normalised on the device: the ceiling for any data path

Paths are interleaved within each repeat; the median over repeats is reported, and a ratio between two
paths is the median of their ratios within a repeat, so that a burst of load from other processes (which
lasts longer than one repeat) cancels out of it. Around them: the machine's matmul FLOP/s and the model's
FLOPs per image (model FLOP utilisation), where one step's time goes, several runs sharing the device, and
one real training run.

The modules, one job each: paths (the three pipelines), timing (interleaved repeats, synchronised timers),
flops (matmul rate, FLOPs per image), breakdown (one step's stages), concurrent (several runs sharing the
device), real_run (one real training run), report (bench.md, bench.csv), suite (all of them: `make bench`),
gpu_report (reports/gpu/README.md from scripts/gpu_check.sh).
"""
