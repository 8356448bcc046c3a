"""Hinge / LSGAN, feature matching and R1 against hand-computed values."""

import pytest
import torch

from llmcodec.training.objectives.adversarial import (
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    r1_penalty,
)
from llmcodec.training.objectives.discriminators import CombinedDiscriminator

torch.set_num_threads(1)


def test_hinge_losses_hand_computed():
    real = [torch.tensor([[2.0, 0.5]]), torch.tensor([[0.0]])]
    fake = [torch.tensor([[-2.0, 0.0]]), torch.tensor([[1.0]])]
    # sub 1: real relu(1-2)=0, relu(0.5)=0.5 -> 0.25; fake relu(-1)=0, relu(1)=1 -> 0.5
    # sub 2: real relu(1)=1; fake relu(2)=2
    assert discriminator_adversarial_loss(real, fake).item() == pytest.approx(0.25 + 0.5 + 1.0 + 2.0)
    # G hinge: -mean(fake) summed: -(-1.0) + -(1.0) = 0
    assert generator_adversarial_loss(fake).item() == pytest.approx(0.0)
    assert generator_adversarial_loss([torch.tensor([[0.5, 1.5]])]).item() == pytest.approx(-1.0)


def test_lsgan_losses_hand_computed():
    real, fake = [torch.tensor([[2.0, 0.0]])], [torch.tensor([[1.0, -1.0]])]
    # real: ((1-2)^2 + (1-0)^2)/2 = 1; fake: (1 + 1)/2 = 1
    assert discriminator_adversarial_loss(real, fake, "lsgan").item() == pytest.approx(2.0)
    # G: ((1-1)^2 + (1+1)^2)/2 = 2
    assert generator_adversarial_loss(fake, "lsgan").item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="hinge"):
        generator_adversarial_loss(fake, "wgan")
    with pytest.raises(ValueError, match="same non-zero number"):
        discriminator_adversarial_loss(real, fake + fake)


def test_feature_matching_crops_and_detaches_real():
    real = [[torch.arange(10.0).view(1, 2, 5)], [torch.ones(1, 3)]]
    fake_map = torch.zeros(1, 2, 4, requires_grad=True)
    fake = [[fake_map], [torch.zeros(1, 3)]]
    # crop to (1, 2, 4): values 0..3 and 5..8 -> mean 4; second sub-discriminator mean 1
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx(4.0 + 1.0)
    real_leaf = torch.ones(1, 3, requires_grad=True)
    loss2 = feature_matching_loss([[real_leaf]], [[fake_map.new_zeros(1, 3).requires_grad_(True)]])
    loss2.backward()
    assert real_leaf.grad is None  # real features are detached
    with pytest.raises(ValueError, match="feature maps"):
        feature_matching_loss([[torch.ones(2)]], [[torch.ones(2), torch.ones(2)]])


def test_r1_penalty_linear_discriminator_closed_form():
    w = torch.tensor([0.5, -1.0, 2.0])

    def linear_d(x):  # D(x) = <w, x>, so grad_x = w for every item
        return [(x @ w.unsqueeze(1), [])]

    x = torch.randn(4, 3)
    assert r1_penalty(linear_d, x, gamma=2.0).item() == pytest.approx(w.pow(2).sum().item())
    assert r1_penalty(linear_d, x, gamma=4.0).item() == pytest.approx(2 * w.pow(2).sum().item())


def test_r1_penalty_trains_the_discriminator():
    torch.manual_seed(0)
    d = CombinedDiscriminator(periods=(2, 3), num_scales=2, mpd_channels=(4, 8), msd_channels=(4, 8))
    wav = torch.randn(2, 1, 400)
    penalty = r1_penalty(d, wav)
    # independent computation of the same quantity
    x = wav.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(sum(o.sum() for o, _ in d(x)), x)
    assert penalty.item() == pytest.approx((g.pow(2).flatten(1).sum(1).mean()).item(), rel=1e-5)
    penalty.backward()
    # every conv weight gets gradient (biases of the output convs do not: d(sum D)/dx ignores them)
    weight_grads = [p.grad for n, p in d.named_parameters() if n.endswith("weight")]
    assert all(gr is not None and gr.abs().sum() > 0 for gr in weight_grads)
    assert not wav.requires_grad  # the caller's tensor is untouched


def test_gan_round_trip_gradients_on_tiny_discriminator():
    torch.manual_seed(0)
    d = CombinedDiscriminator(periods=(2,), num_scales=1, mpd_channels=(4,), msd_channels=(4,))
    real = torch.randn(1, 1, 300)
    fake = torch.randn(1, 1, 300, requires_grad=True)
    real_out, fake_out = d(real), d(fake)
    g_loss = generator_adversarial_loss([o for o, _ in fake_out]) + 1.5 * feature_matching_loss(
        [f for _, f in real_out], [f for _, f in fake_out]
    )
    g_loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
