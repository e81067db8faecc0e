"""Reference post-processing in plain NumPy (no torch, no OpenCV): what to port when integrating
``model.onnx`` elsewhere (C++, DeepStream, ROS...). Mirrors ``yolactedge.ops`` step by step and is
tested against it: decode -> candidate filter -> Fast NMS -> mask assembly -> pixel boxes.

Inputs for one image (see README.md for the tensor layout):
    loc [P,4], conf [P,C] (softmax, column 0 = background), coef [P,k], priors [P,4] (cx,cy,w,h),
    proto [Hp,Wp,k].
"""
from __future__ import annotations

import numpy as np

VARIANCES = (0.1, 0.2)


def decode(loc: np.ndarray, priors: np.ndarray, variances: tuple[float, float] = VARIANCES) -> np.ndarray:
    """SSD offsets -> relative x1y1x2y2 boxes."""
    cxcy = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    wh = priors[:, 2:] * np.exp(loc[:, 2:] * variances[1])
    x1y1 = cxcy - wh / 2
    return np.concatenate([x1y1, x1y1 + wh], 1)


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU, batched over leading dims: [..., A, 4] x [..., B, 4] -> [..., A, B]."""
    max_xy = np.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    min_xy = np.maximum(a[..., :, None, :2], b[..., None, :, :2])
    wh = np.clip(max_xy - min_xy, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]))[..., :, None]
    area_b = ((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (area_a + area_b - inter)


def fast_nms(boxes: np.ndarray, coefs: np.ndarray, scores: np.ndarray, iou_thresh: float = 0.5, top_k: int = 200,
             max_det: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """YOLACT's Fast NMS. boxes [N,4], coefs [N,k], scores [C-1,N]. Per class the top_k candidates;
    one is dropped when its IoU with any higher-scoring one of its class exceeds ``iou_thresh``."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    scores = np.take_along_axis(scores, order, 1)
    num_classes, num_dets = order.shape
    cls_boxes = boxes[order.reshape(-1)].reshape(num_classes, num_dets, 4)
    cls_coefs = coefs[order.reshape(-1)].reshape(num_classes, num_dets, -1)
    iou = np.triu(jaccard(cls_boxes, cls_boxes), k=1)
    keep = iou.max(axis=1) <= iou_thresh if num_dets else np.zeros((num_classes, 0), bool)
    classes = np.broadcast_to(np.arange(num_classes)[:, None], keep.shape)[keep]
    kept_boxes, kept_coefs, kept_scores = cls_boxes[keep], cls_coefs[keep], scores[keep]
    best = np.argsort(-kept_scores, kind="stable")[:max_det]
    return kept_boxes[best], kept_coefs[best], classes[best], kept_scores[best]


def detect(loc: np.ndarray, conf: np.ndarray, coefs: np.ndarray, priors: np.ndarray, conf_thresh: float = 0.05,
           nms_thresh: float = 0.5, top_k: int = 200, max_det: int = 100) -> dict[str, np.ndarray]:
    """Candidates whose best foreground probability exceeds ``conf_thresh``, then Fast NMS.
    Returns relative ``boxes`` x1y1x2y2, ``coefs``, 0-based foreground ``classes``, ``scores``."""
    fg = conf[:, 1:].T
    keep = fg.max(axis=0) > conf_thresh
    if not keep.any():
        return {"boxes": np.zeros((0, 4), np.float32), "coefs": np.zeros((0, coefs.shape[1]), np.float32),
                "classes": np.zeros((0,), np.int64), "scores": np.zeros((0,), np.float32)}
    boxes = decode(loc[keep], priors[keep])
    out = fast_nms(boxes, coefs[keep], fg[:, keep], nms_thresh, top_k, max_det)
    return dict(zip(("boxes", "coefs", "classes", "scores"), out))


def sanitize(x1: np.ndarray, x2: np.ndarray, size: int, padding: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Relative coordinates -> ordered pixel coordinates clamped to [0, size], widened by ``padding``."""
    x1, x2 = x1 * size, x2 * size
    return np.clip(np.minimum(x1, x2) - padding, 0, None), np.clip(np.maximum(x1, x2) + padding, None, size)


def crop(masks: np.ndarray, boxes: np.ndarray, padding: float = 1.0) -> np.ndarray:
    """Zero masks [h,w,n] outside the relative boxes [n,4] (padded by ``padding`` prototype pixels)."""
    h, w, _ = masks.shape
    x1, x2 = sanitize(boxes[:, 0], boxes[:, 2], w, padding)
    y1, y2 = sanitize(boxes[:, 1], boxes[:, 3], h, padding)
    cols = np.arange(w, dtype=x1.dtype)[None, :, None]
    rows = np.arange(h, dtype=y1.dtype)[:, None, None]
    inside = (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
    return masks * inside.astype(masks.dtype)


def _linear_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of bilinear resizing with half-pixel centres (align_corners=False)."""
    scale = np.float32(in_size / out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = (src - i0).astype(np.float32)
    return i0, i1, w1


def resize_bilinear(x: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """[n,h,w] -> [n,H,W], the same sampling as PyTorch's bilinear interpolate (align_corners=False)."""
    y0, y1, wy = _linear_weights(x.shape[1], out_size[0])
    x0, x1, wx = _linear_weights(x.shape[2], out_size[1])
    wy, wx = wy[None, :, None], wx[None, None, :]
    top = x[:, y0][:, :, x0] * (1 - wx) + x[:, y0][:, :, x1] * wx
    bottom = x[:, y1][:, :, x0] * (1 - wx) + x[:, y1][:, :, x1] * wx
    return top * (1 - wy) + bottom * wy


def assemble_masks(proto: np.ndarray, coefs: np.ndarray, boxes: np.ndarray, out_size: tuple[int, int],
                   crop_masks: bool = True, threshold: float = 0.5) -> np.ndarray:
    """Binary masks [n,H,W] at the image size: sigmoid(proto @ coefs) -> crop -> resize -> threshold."""
    if coefs.shape[0] == 0:
        return np.zeros((0, *out_size), bool)
    masks = 1.0 / (1.0 + np.exp(-(proto @ coefs.T)))
    if crop_masks:
        masks = crop(masks, boxes)
    return resize_bilinear(np.ascontiguousarray(masks.transpose(2, 0, 1)), out_size) > threshold


def boxes_to_pixels(boxes: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    h, w = out_size
    x1, x2 = sanitize(boxes[:, 0], boxes[:, 2], w)
    y1, y2 = sanitize(boxes[:, 1], boxes[:, 3], h)
    return np.stack([x1, y1, x2, y2], 1)


def mask_boxes(masks: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Tight pixel boxes x1y1x2y2 (x2, y2 exclusive) of binary masks [n,H,W]; ``fallback`` where empty."""
    out = fallback.copy()
    rows, cols = masks.any(2), masks.any(1)
    for i in np.flatnonzero(rows.any(1)):
        ys, xs = np.flatnonzero(rows[i]), np.flatnonzero(cols[i])
        out[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return out


def postprocess(loc: np.ndarray, conf: np.ndarray, coefs: np.ndarray, priors: np.ndarray, proto: np.ndarray,
                image_size: tuple[int, int], *, conf_thresh: float = 0.05, nms_thresh: float = 0.5, top_k: int = 200,
                max_det: int = 100, score_thresh: float = 0.0, masks: bool = True,
                box_from_mask: bool = False) -> dict[str, np.ndarray]:
    """One image's raw outputs -> pixel ``boxes`` [n,4] x1y1x2y2, ``scores``, ``classes`` (0-based,
    background excluded) and ``masks`` [n,H,W] bool at ``image_size`` (height, width).
    ``box_from_mask``: boxes are the masks' tight boxes (``PostprocessConfig.box_from_mask``)."""
    dets = detect(loc, conf, coefs, priors, conf_thresh, nms_thresh, top_k, max_det)
    if score_thresh > 0:
        keep = dets["scores"] > score_thresh
        dets = {k: v[keep] for k, v in dets.items()}
    out = {"boxes": boxes_to_pixels(dets["boxes"], image_size), "scores": dets["scores"], "classes": dets["classes"]}
    if masks:
        out["masks"] = assemble_masks(proto, dets["coefs"], dets["boxes"], image_size)
        if box_from_mask:
            out["boxes"] = mask_boxes(out["masks"], out["boxes"])
    return out
