"""Run by tests/test_accelerate.py in 2 processes (torch.distributed.run, gloo on CPU).

Only as a script: pytest's --doctest-modules imports every module under tests/.
"""
import sys
from pathlib import Path


def main() -> None:
    import numpy as np
    from accelerate import Accelerator

    from sklearn_samplecnn import SampleCNNClassifier

    out = Path(sys.argv[1])
    acc = Accelerator(cpu=True)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 81 * 2)).astype(np.float32)
    y = ["a", "b"] * 16
    clf = SampleCNNClassifier(module__sizes="3-3-3-3", module__channels=[4] * 5, max_epochs=2,
                              train_split=0.25, verbose=0, random_state=0, batch_size=4,
                              accelerator=acc, checkpoint_dir=str(out / "ckpt"))
    clf.fit(X, y)
    state = {k: v.detach().cpu().numpy() for k, v in clf.module_.state_dict().items()}
    np.savez(out / f"rank{acc.process_index}.npz", **state)
    hist = [h.get("valid_loss") for h in clf.history_]
    (out / f"rank{acc.process_index}.txt").write_text(repr(hist))


if __name__ == "__main__":
    main()
