"""The residual network: the notebook's point of the space."""

from study.training import network


def test_notebook_network_has_166913_parameters():
    net = network.build_network(12, 128, 10, "tanh", 1e-3)
    assert net.count_params() == 166_913 == network.count_parameters(12, 128, 10)
    # residual kernels start at zero: the blocks are the identity at initialisation
    assert all(
        float(abs(layer.kernel).numpy().max()) == 0.0
        for layer in net.layers
        if layer.name.startswith("block_")
    )
