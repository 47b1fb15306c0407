import numpy as np
import torch

from skdeepcluster.nn import ConvAutoencoder, MLPAutoencoder
from skdeepcluster.training import DeviceBatchIterator, LossAccumulator, TrainingLog, pretrain_autoencoder


def test_device_batches_cover_every_row_once():
    X = torch.arange(103.0).reshape(-1, 1)
    seen = torch.cat([xb for xb, _ in DeviceBatchIterator(X, batch_size=10, shuffle=True)]).flatten()
    assert sorted(seen.tolist()) == list(range(103))
    assert len(DeviceBatchIterator(X, batch_size=10)) == 11


def test_loss_accumulator_weights_by_batch_size():
    acc = LossAccumulator()
    acc.add(10, a=torch.tensor(1.0))
    acc.add(30, a=torch.tensor(3.0))
    assert acc.means() == {"a": 2.5}


def test_skorch_pretraining_lowers_the_loss():
    torch.manual_seed(0)
    X = torch.rand(256, 20)
    log = TrainingLog()
    net = pretrain_autoencoder(MLPAutoencoder(20, (16,), 4), X, epochs=15, batch_size=32, lr=1e-2, log=log)
    losses = log.history["pretrain"]["reconstruction"]
    assert len(losses) == 15 and losses[-1] < losses[0] / 2
    np.testing.assert_allclose(net.history[:, "train_loss"], losses)


def test_conv_autoencoder_shapes():
    for shape in [(1, 28, 28), (3, 17, 9)]:
        ae = ConvAutoencoder(shape, n_components=5)
        x = torch.rand(4, int(np.prod(shape)))
        z, x_hat = ae(x)
        assert z.shape == (4, 5) and x_hat.shape == x.shape
