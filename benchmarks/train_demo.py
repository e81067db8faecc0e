"""Reproduces the bundled demo model (yolactedge/assets/demo_model.pt, stored as float16).

    yolactedge synth images synth_bench --train 3000 --val 300 --size 320 --seed 0
    python benchmarks/train_demo.py runs/demo 3600        # run from the folder holding synth_bench/

Equivalent CLI run: yolactedge train --data synth_bench --config yolact_edge_demo_config --iters 3600
--batch 8 --optimizer adamw --lr 2e-3 --weight-decay 0.05 --schedule cosine --warmup-iters 100
--warmup-init 1e-4 --no-expand --workers 1 --val-every 0 --out runs/demo
Result (300 val images): box AP 22.1, mask AP 16.3 (see BENCHMARKS.md).
"""
import sys, time, torch
from yolactedge.data.augment import AugmentConfig
from yolactedge.data.coco import CocoDataset
from yolactedge.train.config import TrainConfig
from yolactedge.train.trainer import Trainer
torch.set_num_threads(2)
out = sys.argv[1]; iters = int(sys.argv[2])
tr = CocoDataset("synth_bench/train/images", "synth_bench/train/annotations.json")
va = CocoDataset("synth_bench/val/images", "synth_bench/val/annotations.json")
cfg = TrainConfig(out_dir=out, lr=2e-3, schedule="cosine", warmup_iters=100, warmup_init=1e-4, max_iter=iters,
                  batch_size=8, num_workers=1, val_every=0, tensorboard=False, weight_decay=5e-4, save_every=500,
                  augment=AugmentConfig(expand=False))
t = Trainer(cfg, tr, va, "yolact_edge_demo_config", device="cpu", show_progress=False)
params = [p for p in t.model.parameters() if p.requires_grad]
t.optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.05)
start = time.time()
t.train()
print("WALL", time.time() - start)
