# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The procedural thermal stereo renderer (v2 and v3): exact GT, occlusion, families, sensor."""

import numpy as np
import pytest

from thermostereo_ros.data import synthetic
from thermostereo_ros.data.render import primitives as pr
from thermostereo_ros.data.render.rig import rig_camera
from thermostereo_ros.data.synthetic import FAMILIES, render_pair, render_sequence

H, W = 128, 320


@pytest.fixture(scope='module', params=synthetic.RENDERER_VERSIONS)
def pairs(request):
    return [render_pair(s, H, W, 96, c, family=f, keep_radiance=True, version=request.param)
            for s, (c, f) in enumerate((('day', 'street'), ('night', 'street'),
                                        ('rain', 'street'), ('day', 'indoor'),
                                        ('night', 'flying'), ('rain', 'flying')))]


# Share of the pixels that must be away from occlusions, reflections and depth edges (9x9
# around each) for the exactness check: v3 streets are full of branches and poles, so at
# 128x320 only a few percent of their pixels are that far from every edge.
CLEAN_SHARE = {2: 0.1, 3: 0.03}


def test_deterministic_by_seed():
    a, b = render_pair(5, H, W, 96), render_pair(5, H, W, 96)
    c = render_pair(6, H, W, 96)
    for k in ('left', 'right', 'disparity', 'sparse_valid', 'occluded', 'sky'):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert a.camera == b.camera and a.family == b.family
    assert not np.array_equal(a.left, c.left)


def test_types_and_ranges(pairs):
    for p in pairs:
        assert p.left.dtype == np.uint16 and p.right.dtype == np.uint16
        assert p.left.shape == (H, W) and p.disparity.dtype == np.float32
        assert p.left.max() < 2 ** 14
        assert 2500 < np.median(p.left) < 6500
        assert np.isfinite(p.disparity).all() and (p.disparity >= 0).all()
        assert (p.disparity[p.sky] == 0).all() and (p.disparity[~p.sky] > 0).all()
        assert p.camera.fx > 0 and 0.05 <= p.camera.baseline <= 0.5
        assert p.meta['renderer_version'] == p.version in synthetic.RENDERER_VERSIONS


def test_families_and_rigs_vary():
    seen = {render_pair(s, 32, 80, 48).family for s in range(24)}
    assert seen == set(FAMILIES)
    rigs = {(round(render_pair(s, 32, 80, 48).camera.fx), ) for s in range(6)}
    assert len(rigs) > 3
    with pytest.raises(ValueError, match='family'):
        render_pair(0, H, W, 96, family='forest')
    with pytest.raises(ValueError, match='fog'):
        render_pair(0, H, W, 96, 'fog')


def test_disparity_span():
    maxima = [render_pair(s, H, W, 96, family='flying').disparity.max() for s in range(4)]
    assert max(maxima) > 0.5 * 96
    p = render_pair(0, H, W, 96, family='street')
    assert p.disparity[-1].mean() > p.disparity[H // 2].mean()  # the road comes closer


def test_sparse_lidar_pattern(pairs):
    for p in pairs:
        assert not (p.sparse_valid & p.sky).any()
        density = p.sparse_valid.sum() / max(1, (~p.sky).sum())
        assert 0.01 < density < 0.3, density
        # Scan lines: at most one return per beam in any column.
        # (two azimuth steps can round to one column where a step is under a pixel)
        assert p.sparse_valid.sum(0).max() <= 2 * len(synthetic.LIDAR_ELEVATIONS_DEG)


def test_condition_contrast():
    def spread(c):
        return np.mean([np.std(render_pair(s, H, W, 96, c, family='street').left[H // 2:])
                        for s in range(4)])
    assert spread('rain') < spread('day')


def _warp_error(p, shift: float = 0.0):
    """|L(x) - R(x - d - shift)| on non-occluded pixels away from depth edges (radiance).

    Both radiances get the optics blur of the sensor model (sigma 1 px) first, so that the
    linear interpolation of R between pixel centres is accurate for the finest texture.
    """
    import cv2
    left = cv2.GaussianBlur(p.radiance_left, (0, 0), 1.0).astype(np.float64)
    right = cv2.GaussianBlur(p.radiance_right, (0, 0), 1.0).astype(np.float64)
    d = p.disparity
    # Depth edges, including those between surfaces at nearly equal depth (a far pole before
    # a facade): disparity is affine on a plane and smooth on a quadric, so its second
    # difference is ~0 inside a surface and jumps at a boundary.
    edge = np.zeros_like(p.sky)
    edge[:, 1:-1] |= np.abs(d[:, 2:] - 2 * d[:, 1:-1] + d[:, :-2]) > 0.05
    edge[1:-1] |= np.abs(d[2:] - 2 * d[1:-1] + d[:-2]) > 0.05
    ids = p.surface_left   # and every boundary between two surfaces
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[1:] |= ids[1:] != ids[:-1]
    edge = cv2.dilate(edge.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # blur support
    # Likewise where the match lands near a surface boundary of the right view.
    ids_r = p.surface_right
    edge_r = np.zeros_like(edge)
    edge_r[:, 1:] |= ids_r[:, 1:] != ids_r[:, :-1]
    edge_r[1:] |= ids_r[1:] != ids_r[:-1]
    edge_r = cv2.dilate(edge_r.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    # A wet mirror shows another surface's depth there: GT is the road's, not the image's.
    ys, xs = np.nonzero(~p.occluded & ~p.sky & ~edge & ~p.reflective)
    xr = xs - d[ys, xs] - shift
    keep = (xr >= 0) & (xr < W - 1)
    ys, xs, xr = ys[keep], xs[keep], xr[keep]
    keep = ~edge_r[ys, np.rint(xr).astype(int)]
    ys, xs, xr = ys[keep], xs[keep], xr[keep]
    x0 = np.floor(xr).astype(int)
    a = xr - x0
    sampled = (1 - a) * right[ys, x0] + a * right[ys, x0 + 1]
    return np.abs(sampled - left[ys, xs]), len(ys)


def test_ground_truth_is_exact(pairs):
    """Warping the right view by the GT reproduces the left within the noise model."""
    for p in pairs:
        err, n = _warp_error(p)
        assert n > CLEAN_SHARE[p.version] * H * W, (p.family, p.condition, n)
        assert np.median(err) < 0.25 * p.noise, (p.family, p.condition, np.median(err))
        assert np.mean(err) < 0.5 * p.noise, (p.family, p.condition, np.mean(err))
        wrong, _ = _warp_error(p, 2.0)
        assert np.mean(wrong) > 1.5 * np.mean(err)


def test_sensor_images_match_at_gt_not_elsewhere(pairs):
    """On the noisy sensor images too, the GT shift explains the left far better than +6 px."""
    for p in pairs:
        left, right = p.left.astype(np.float64), p.right.astype(np.float64)
        ys, xs = np.nonzero(~p.occluded & ~p.sky & (p.disparity > 1) & ~p.reflective)
        keep = xs - p.disparity[ys, xs] - 8 >= 0
        ys, xs = ys[keep], xs[keep]
        xr = xs - p.disparity[ys, xs]
        x0 = np.floor(xr).astype(int)
        a = xr - x0
        target = left[ys, xs]

        def residual(source):
            # The two cameras differ by gain, offset and vignetting: compare after a fit.
            design = np.stack([source, np.ones_like(source)], 1)
            coef = np.linalg.lstsq(design, target, rcond=None)[0]
            return np.sqrt(np.mean((design @ coef - target) ** 2))

        good = residual((1 - a) * right[ys, x0] + a * right[ys, x0 + 1])
        bad = residual(right[ys, x0 - 6])
        assert good < 0.8 * bad, (p.family, p.condition, good, bad)


def _rays(fx=200.0, h=64, w=160):
    return pr.Rays(fx, fx, (w - 1) / 2, (h - 1) / 2, h, w)


def test_curved_surfaces_have_exact_depth():
    rays = _rays()
    eye = np.eye(3)
    sphere = pr.ellipsoid(np.array([0.3, -0.1, 4.0]), eye, np.array([0.8, 0.8, 0.8]), 0)
    frame = pr.random_rotation(np.random.default_rng(1))
    blob = pr.ellipsoid(np.array([-0.5, 0.2, 5.0]), frame, np.array([0.9, 0.4, 0.6]), 0)
    tube = pr.cylinder(np.array([-1.0, 1.0, 6.0]), np.array([0.3, -1.0, 0.2]), 0.3, 2.0, 0)
    for prim in (sphere, blob, tube):
        zb = pr.cast([prim], np.eye(3), np.zeros(3), rays)
        hit = zb.ids == 0
        assert hit.sum() > 50
        points = np.stack([rays.x[hit], rays.y[hit], np.ones(hit.sum())], -1) * \
            zb.depth[hit][:, None]
        local = (points - prim.origin) @ prim.frame
        if prim.kind == 'ellipsoid':
            residual = np.abs(np.sum((local / prim.radii) ** 2, 1) - 1.0)
            assert residual.max() < 1e-9
        else:
            radial = np.hypot(local[:, 0], local[:, 1])
            on_side = np.abs(radial - 0.3) < 1e-9
            on_cap = (np.abs(local[:, 2]) < 1e-9) | (np.abs(local[:, 2] - 2.0) < 1e-9)
            assert (on_side | on_cap).all() and on_side.any()
            assert (local[:, 2] > -1e-9).all() and (local[:, 2] < 2.0 + 1e-9).all()
    # A sphere straight ahead: depth at the central ray is distance minus radius.
    centred = pr.ellipsoid(np.array([0.0, 0.0, 4.0]), eye, np.full(3, 1.0), 0)
    rays_odd = pr.Rays(200.0, 200.0, 80.0, 32.0, 65, 161)
    zb = pr.cast([centred], np.eye(3), np.zeros(3), rays_odd)
    assert abs(zb.depth[32, 80] - 3.0) < 1e-12


def test_occlusion_mask_where_a_nearer_surface_hides_the_match():
    cam = rig_camera(200.0, 200.0, 79.5, 31.5, 0.25, 160, 64)
    rays = pr.Rays(cam.fx, cam.fy, cam.cx, cam.cy, cam.height, cam.width)
    wall = pr.plane(np.array([0.0, 0.0, 10.0]), np.array([0.0, 0.0, -1.0]), 0)
    near = pr.rectangle(np.array([0.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0]),
                        np.array([0.0, 1.0, 0.0]), 0.5, 0.5, 1)
    zl = pr.cast([wall, near], np.eye(3), np.zeros(3), rays)
    zr = pr.cast([wall, near], np.eye(3), np.array([cam.baseline, 0, 0]), rays)
    dl, dr = cam.fb / zl.depth, cam.fb / zr.depth
    occ = synthetic._occlusion(dl.astype(np.float32), dr.astype(np.float32),
                               np.zeros(dl.shape, bool))
    row = 31
    cols = np.nonzero(zl.ids[row] == 1)[0]
    first = cols[0]
    gap = dl[row, first] - dl[row, first - 1]   # 25 - 5 = 20 px hidden left of the object
    assert abs(gap - 20.0) < 1e-6
    assert occ[row, int(first - gap + 2):first].all()
    assert not occ[row, 6:int(first - gap - 1)].any()  # x < 5 px: outside the right view
    assert not occ[row, cols].any() and not occ[row, cols[-1] + 1:].any()


def test_shutter_frames_are_uniform_and_carry_no_ground_truth():
    seq = render_sequence(3, 12, 64, 160, 48, family='street', fps=10.0, ffc_period=0.5)
    shut = [p for p in seq if p.shutter]
    assert shut and len(shut) < len(seq)
    for p in shut:
        assert not (p.disparity > 0).any() and not p.sparse_valid.any()
        # One of the two cameras shows its closed shutter: nearly uniform.
        assert min(np.std(p.left), np.std(p.right)) < 30.0
    for p in seq:
        if not p.shutter:
            assert (p.disparity > 0).any()


def test_eight_bit_agc_output():
    p = render_pair(7, H, W, 96, bit_depth=8)
    assert p.left.dtype == np.uint8 and p.right.dtype == np.uint8
    assert p.left.max() >= 250 and p.left.min() <= 5 and p.bit_depth == 8
    with pytest.raises(ValueError, match='bit_depth'):
        render_pair(7, H, W, 96, bit_depth=12)


def test_sequence_moves_smoothly():
    seq = render_sequence(4, 3, H, W, 96, family='street')
    assert len(seq) == 3
    np.testing.assert_array_equal(render_sequence(4, 1, H, W, 96, family='street')[0].left,
                                  render_pair(4, H, W, 96, family='street').left)
    steps = [np.linalg.norm(seq[i + 1].pose[:3, 3] - seq[i].pose[:3, 3]) for i in range(2)]
    assert all(0.2 < s < 1.5 for s in steps)
    assert seq[1].timestamp > seq[0].timestamp


def test_occlusion_marks_left_border():
    p = render_pair(0, H, W, 96, family='flying')
    border = p.disparity[:, :4] > 5
    assert p.occluded[:, :4][border].all()


def test_street_sequences_keep_the_driven_corridor_free():
    """The camera drives along x = 0: it must never pass through a car or a person."""
    from thermostereo_ros.data.synthetic import default_camera
    for seed in (0, 1):
        seq = render_sequence(seed, 30, 64, 160, 48, 'day', camera=default_camera(64, 160),
                              family='street')
        for p in seq:
            near = p.disparity[~p.sky]
            assert np.median(near) < 0.5 * 48, (seed, p.timestamp)
