"""Alignment geometry and MTCNN on a real face that scikit-image ships."""

from __future__ import annotations

import numpy as np
import pytest

from oadn.data.aligned_frame import apply_transform, rescale_points, rescale_transform, resize_transform, warp_image
from oadn.preprocess.alignment import MtcnnDetector, similarity_transform, template_points


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 100, size=(5, 2))
    dst = src @ rot.T + shift
    matrix = similarity_transform(src, dst)
    np.testing.assert_allclose(matrix[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_resize_and_rescale_keep_pixel_centres():
    # a 48-pixel crop onto 224: the first and last pixel edges map to the frame's edges
    matrix = resize_transform(48, 48, 224)
    edges = apply_transform(matrix, np.array([[-0.5, -0.5], [47.5, 47.5]]))
    np.testing.assert_allclose(edges, [[-0.5, -0.5], [223.5, 223.5]], atol=1e-5)
    # rescaling the transform and rescaling the points agree
    point = np.array([[10.0, 20.0]])
    at_112 = apply_transform(rescale_transform(matrix, 224, 112), point)
    np.testing.assert_allclose(at_112, rescale_points(apply_transform(matrix, point), 224, 112), atol=1e-5)


def test_warp_image_places_a_pixel_where_the_transform_says():
    image = np.zeros((40, 60, 3), np.uint8)
    image[10, 30] = 255
    matrix = similarity_transform(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[5.0, 7.0], [7.0, 7.0]]))  # x2 + shift
    out = warp_image(image, matrix, 80)
    y, x = np.unravel_index(out[..., 0].argmax(), out.shape[:2])
    assert (x, y) == (65, 27)


def test_mtcnn_aligns_the_astronaut_eyes_onto_the_template():
    data = pytest.importorskip("skimage.data")
    image = data.astronaut()
    detector = MtcnnDetector()
    (found,) = detector.detect([image])
    assert found is not None, "MTCNN found no face in skimage.data.astronaut()"
    box, five = found
    assert 150 < (box[0] + box[2]) / 2 < 290 and 50 < (box[1] + box[3]) / 2 < 200
    matrix = similarity_transform(five, template_points(224))
    eyes = apply_transform(matrix, five[:2])
    assert np.linalg.norm(eyes - template_points(224)[:2], axis=1).max() < 6.0  # a 5-point least-squares fit
    # detect again on the rendered aligned face: its eyes sit on the template's eyes within a few pixels
    (again,) = detector.detect([warp_image(image, matrix, 224)])
    assert again is not None
    error = np.linalg.norm(again[1][:2] - template_points(224)[:2], axis=1)
    assert error.max() < 6.0, f"aligned eyes {again[1][:2]} vs template {template_points(224)[:2]}"
