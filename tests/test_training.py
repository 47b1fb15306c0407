import numpy as np
import torch

from skdeepcluster.nn import ConvAutoencoder, FeatureMapAutoencoder, MLPAutoencoder
import pytest

from skdeepcluster.training import (
    AutoencoderNet,
    DenoisingPair,
    DeviceBatchIterator,
    LossAccumulator,
    PlateauStop,
    TrainingLog,
    dead_output_share,
    pretrain_autoencoder,
    pretrain_layerwise,
    float32_steps,
    step_precision,
)
from skdeepcluster import training


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


def test_plateau_stop_counts_epochs_without_a_relative_improvement():
    stop = PlateauStop(n_iter_no_change=2, tol=0.1)
    stop.on_train_begin()
    # 10 -> 8 improves (8 < 9); 7.5 does not (not below 7.2); 7.0 does; 6.5 and 6.4 do not (not below 6.3).
    assert [stop.update(v) for v in (10.0, 8.0, 7.5, 7.0, 6.5, 6.4)] == [False, False, False, False, False, True]
    assert stop.best_loss_ == 7.0
    stop.on_train_begin()  # a new fit starts afresh
    assert stop.best_loss_ == float("inf") and stop.epochs_no_change_ == 0


def test_plateau_stop_ends_skorch_pretraining_early():
    torch.manual_seed(0)
    X = torch.rand(64, 10)
    log = TrainingLog()
    # An improvement must halve the loss: three epochs in a row that do not end the pretraining.
    net = pretrain_autoencoder(MLPAutoencoder(10, (8,), 3), X, epochs=200, batch_size=64, lr=1e-3, log=log,
                               callbacks=[("converged", PlateauStop(3, 0.5))])
    epochs = len(log.history["pretrain"]["reconstruction"])
    assert 3 < epochs < 200 and len(net.history) == epochs
    losses = np.array(log.history["pretrain"]["reconstruction"])
    assert (losses[-3:] >= 0.5 * losses[:-3].min()).all()


def test_plateau_stop_keeps_cuda_graphs_where_other_callbacks_turn_them_off(monkeypatch):
    from skorch.callbacks import EarlyStopping

    monkeypatch.setattr(training, "CUDA_GRAPHS", True)

    def graphable(callbacks):
        net = AutoencoderNet(MLPAutoencoder(4, (3,), 2), callbacks=callbacks, optimizer__capturable=True).initialize()
        net.device = "cuda"  # what graphable asks of the device; nothing here runs on it
        return net.graphable()

    assert graphable([("converged", PlateauStop(3, 0.1))]) and graphable([PlateauStop(3, 0.1)])
    assert not graphable([EarlyStopping(monitor="train_loss")])


def test_conv_autoencoder_shapes():
    for shape in [(1, 28, 28), (3, 17, 9), (1, 8, 8), (2, 1, 3)]:
        ae = ConvAutoencoder(shape, n_components=5)
        x = torch.rand(4, int(np.prod(shape)))
        z, x_hat = ae(x)
        assert z.shape == (4, 5) and x_hat.shape == x.shape
    # DCEC's 'valid' last convolution on MNIST (7 x 7 -> 3 x 3); padded where the image is too small for it
    assert ConvAutoencoder((1, 28, 28))._code_shape == (128, 3, 3)
    assert ConvAutoencoder((1, 8, 8))._code_shape == (128, 1, 1)


def test_feature_map_autoencoder_codes_are_its_last_map():
    # DSC-Net's COIL20 network: one 3x3 stride-2 layer of 15 channels, a 16 x 16 x 15 code for 32 x 32 images
    assert FeatureMapAutoencoder((1, 32, 32)).n_components == 3840
    # DMSC's code: strides 2, 1, 2 take its 32 x 32 images to an 8 x 8 map of 30 channels
    dmsc = FeatureMapAutoencoder((1, 32, 32), (10, 20, 30), (5, 3, 3), (2, 1, 2))
    assert dmsc.n_components == 30 * 8 * 8 and dmsc(torch.rand(2, 1024))[1].shape == (2, 1024)
    for shape, channels, kernels in [((1, 28, 28), (5, 3, 3), (5, 3, 3)), ((2, 7, 5), (4,), (3,)), ((1, 1, 1), (3,), (5,))]:
        ae = FeatureMapAutoencoder(shape, channels, kernels)
        x = torch.rand(4, int(np.prod(shape)))
        z, x_hat = ae(x)
        side = [-(-n // 2 ** len(channels)) for n in shape[1:]]  # 'same' padding: ceil(n / 2) per layer
        assert z.shape == (4, channels[-1] * side[0] * side[1]) == (4, ae.n_components)
        assert x_hat.shape == x.shape and (x_hat >= 0).all()  # ReLU on the output too, as the authors' code
        maps = ae.encoder(x.reshape(-1, *shape))
        torch.testing.assert_close(z, maps.flatten(1))  # no linear layer: the code is the map itself
    with pytest.raises(ValueError, match="one entry per convolution"):
        FeatureMapAutoencoder((1, 8, 8), (15, 5), (3,))
    with pytest.raises(ValueError, match="odd"):
        FeatureMapAutoencoder((1, 8, 8), (15,), (4,))


class _ReluOutput(torch.nn.Module):
    """An 'autoencoder' whose output ReLU is dead on the features where ``scale`` is negative."""

    def __init__(self, scale):
        super().__init__()
        self.scale = torch.as_tensor(scale, dtype=torch.float32)

    def forward(self, x):
        return x, torch.relu(x * self.scale)


def test_dead_output_share_weighs_dead_features_by_their_data():
    X = torch.tensor([[1.0, 2.0, 0.0], [3.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    # feature 1 dead, feature 2 dead too but 0 in the data, feature 0 alive
    share = dead_output_share(_ReluOutput([1.0, -1.0, -1.0]), X, batch_size=2)
    assert share == pytest.approx((4 + 1 + 1) / (1 + 4 + 9 + 1 + 1))
    # a feature that is 0 on some rows only is not dead: the batches must agree on every row
    assert dead_output_share(_ReluOutput([1.0, 1.0, 1.0]), X, batch_size=1) == 0.0  # feature 0 is 0 on row 2 only
    assert dead_output_share(MLPAutoencoder(3, (4,), 2), X) == 0.0  # a linear output never dies


def test_a_stride_2_transposed_convolution_gives_each_pixel_parity_its_own_taps():
    """Why DSC-Net's ORL decoder can lose a quarter of its pixels: negative centre taps kill the even ones."""
    ae = FeatureMapAutoencoder((1, 8, 8), (3,), (3,))
    last = ae.decoder[-1]
    with torch.no_grad():
        last.weight[:, 0, 1, 1] = -1.0  # the only taps that reach (even row, even column) pixels
    x_hat = ae(torch.rand(64, 64))[1].reshape(64, 8, 8)
    assert (x_hat[:, ::2, ::2] == 0).all()
    assert dead_output_share(ae, torch.rand(64, 64) + 0.5) > 0.2


def test_denoising_pair_is_a_layer_and_its_mirror():
    g = torch.Generator().manual_seed(0)
    ae = MLPAutoencoder(6, (5,), 3)
    first = DenoisingPair(ae.encoder[0], ae.decoder[-1], True, False, dropout=0.2)
    last = DenoisingPair(ae.encoder[-1], ae.decoder[0], False, True, dropout=0.2)
    x = torch.randn(7, 6, generator=g)
    first.eval()
    h, y = first(x)
    torch.testing.assert_close(h, torch.relu(x @ ae.encoder[0].weight.T + ae.encoder[0].bias))
    torch.testing.assert_close(y, h @ ae.decoder[-1].weight.T + ae.decoder[-1].bias)  # linear output
    last.eval()
    e, r = last(h)
    torch.testing.assert_close(e, h @ ae.encoder[-1].weight.T + ae.encoder[-1].bias)  # linear embedding
    assert torch.all(r >= 0)  # ReLU on the hidden layer it reconstructs
    # the two pairs give the deep autoencoder's activations
    torch.testing.assert_close(ae.encode(x), e)
    # training mode corrupts the input and the hidden units (dropout); eval mode does not
    first.train()
    assert not torch.allclose(first(x)[1], y)


def test_layerwise_pretraining_trains_the_deep_autoencoder_in_place():
    torch.manual_seed(0)
    X = torch.rand(256, 12)
    ae = MLPAutoencoder(12, (10, 8), 4)
    before = [p.detach().clone() for p in ae.parameters()]
    log = TrainingLog()
    assert pretrain_layerwise(ae, X, epochs=20, batch_size=32, lr=1e-2, log=log) is ae
    assert list(log.history) == ["pretrain_layer1", "pretrain_layer2", "pretrain_layer3"]
    for phase in log.history.values():
        losses = phase["reconstruction"]
        assert len(losses) == 20 and losses[-1] < losses[0]
    assert all(not torch.equal(a, b) for a, b in zip(before, ae.parameters()))


def test_layerwise_pretraining_needs_a_fully_connected_autoencoder():
    with pytest.raises(ValueError, match="fully connected autoencoder"):
        pretrain_layerwise(ConvAutoencoder((1, 28, 28)), torch.rand(4, 784), epochs=1, batch_size=2, lr=1e-3,
                           log=TrainingLog())


def test_training_steps_on_cuda_run_in_tf32_and_restore_the_precision(monkeypatch):
    assert torch.get_float32_matmul_precision() == "highest"
    with step_precision(torch.device("cuda")):
        assert torch.get_float32_matmul_precision() == "high"
    assert torch.get_float32_matmul_precision() == "highest"
    with step_precision("cpu"):
        assert torch.get_float32_matmul_precision() == "highest"
    monkeypatch.setattr(training, "TF32", False)
    with step_precision("cuda"):
        assert torch.get_float32_matmul_precision() == "highest"


def test_a_precision_the_user_set_is_left_alone():
    torch.set_float32_matmul_precision("medium")
    try:
        with step_precision("cuda"):
            assert torch.get_float32_matmul_precision() == "medium"
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision("highest")


def test_float32_steps_keep_full_precision_inside():
    with float32_steps():
        with step_precision("cuda"):
            assert torch.get_float32_matmul_precision() == "highest"
    with step_precision("cuda"):
        assert torch.get_float32_matmul_precision() == "high"


@pytest.mark.parametrize("name, tf32", [("VaDE", False), ("DHVC", True), ("DEC", True)])
def test_estimators_train_with_their_step_precision(monkeypatch, name, tf32):
    """fit runs ``_fit`` inside float32_steps exactly for the estimators that opt out of TF32."""
    import skdeepcluster

    cls = getattr(skdeepcluster, name)
    seen = []

    def fake_fit(self, X, log):
        seen.append(training._TF32_ALLOWED.get())
        raise RuntimeError("stop")

    monkeypatch.setattr(cls, "_fit", fake_fit)
    with pytest.raises(RuntimeError, match="stop"):
        cls(n_clusters=2, device="cpu").fit(np.random.default_rng(0).random((10, 3)))
    assert seen == [tf32]
    assert training._TF32_ALLOWED.get()
