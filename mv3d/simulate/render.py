"""Fast synthetic video: a shaded, textured articulated body (the room and the board images around
it: :mod:`mv3d.simulate.scene`).

The body is a set of tapered capsules and spheres between the MV3D25 keypoints. Each frame
projects them through the camera (with its lens distortion), sorts them by depth (painter's
algorithm, far first) and fills each capsule's index into a label image with OpenCV. The
labelled pixels are then shaded in one vectorised pass: every pixel gets the normal of its
capsule's surface (a cylinder across the limb, a sphere on the end caps), Lambert light from
above-left-front plus a little specular, and a cloth or skin texture sampled in limb-aligned
coordinates (metres along the limb and around it), so the texture moves with the limb. Edges
are softened by a 3x3 blur on the silhouette and segment borders. The room (tiled floor,
walls) is ray-cast once per camera with exact distortion and copied into every frame; sensor
noise is added per frame. Left clothes are blue, right clothes red, so left/right are visible
in the video.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.skeleton import MV3D25

_I = {n: i for i, n in enumerate(MV3D25)}

# Colours are BGR.
_PALETTE = {
    "skin": (120, 150, 200), "shirt_l": (170, 95, 40), "shirt_r": (50, 50, 180), "torso": (110, 120, 120),
    "pants_l": (120, 60, 20), "pants_r": (30, 30, 120), "shoe": (40, 40, 40), "hair": (30, 40, 60),
    "eye": (35, 30, 30),
}
_PASSERBY = {"skin": (110, 140, 190), "shirt_l": (80, 140, 80), "shirt_r": (80, 140, 80), "torso": (80, 140, 80),
             "pants_l": (90, 90, 90), "pants_r": (90, 90, 90), "shoe": (30, 30, 30), "hair": (20, 20, 20),
             "eye": (30, 30, 30)}

# Surface material of each palette colour: the texture and the specular highlight.
_MATERIAL_OF = {"skin": "skin", "eye": "skin", "shirt_l": "shirt", "shirt_r": "shirt", "torso": "shirt",
                "pants_l": "denim", "pants_r": "denim", "shoe": "leather", "hair": "hair"}
# name: (metres covered by one texture tile, specular highlight strength (grey levels))
_MATERIALS = {"skin": (0.12, 25.0), "shirt": (0.16, 0.0), "denim": (0.10, 0.0), "leather": (0.10, 70.0),
              "hair": (0.06, 20.0)}
_TILE = 64  # texture tile size (pixels), a power of two
# Light direction in view coordinates (x right, y down, z towards the camera): above-left-front.
# Python floats, so that float32 pixel arrays stay float32.
_LIGHT = tuple(float(v) for v in np.array([-0.35, -0.6, 0.72]) / np.linalg.norm([-0.35, -0.6, 0.72]))
_HALF = tuple(float(v) for v in (np.add(_LIGHT, [0, 0, 1]) / np.linalg.norm(np.add(_LIGHT, [0, 0, 1]))))  # Blinn
_AMBIENT, _DIFFUSE = 0.4, 0.85


@dataclass(frozen=True)
class Capsule:
    """A capsule from keypoint ``a`` to keypoint ``b`` (MV3D25 names, or 'head'/'l_toes'/'r_toes'
    for derived points) with radius ``radius`` (m, for a 1.75 m tall person) and a palette colour."""

    name: str
    a: str
    b: str
    radius: float
    colour: str


SEGMENTS: tuple[Capsule, ...] = (
    Capsule("trunk", "mid_hip", "neck", 0.135, "torso"),
    Capsule("pelvis", "l_hip", "r_hip", 0.085, "torso"),
    Capsule("chest", "l_shoulder", "r_shoulder", 0.07, "torso"),
    Capsule("neck", "neck", "head", 0.045, "skin"),
    Capsule("head", "head", "head", 0.10, "skin"),
    Capsule("hair", "hair", "hair", 0.085, "hair"),
    Capsule("nose", "nose", "nose", 0.022, "skin"),
    Capsule("l_eyeball", "l_eye", "l_eye", 0.013, "eye"),
    Capsule("r_eyeball", "r_eye", "r_eye", 0.013, "eye"),
) + tuple(
    seg
    for s, side in (("l", "_l"), ("r", "_r"))
    for seg in (
        Capsule(f"{s}_upper_arm", f"{s}_shoulder", f"{s}_elbow", 0.048, "shirt" + side),
        Capsule(f"{s}_forearm", f"{s}_elbow", f"{s}_wrist", 0.037, "skin"),
        Capsule(f"{s}_hand", f"{s}_wrist", f"{s}_wrist", 0.045, "skin"),
        Capsule(f"{s}_thigh", f"{s}_hip", f"{s}_knee", 0.075, "pants" + side),
        Capsule(f"{s}_shank", f"{s}_knee", f"{s}_ankle", 0.052, "pants" + side),
        Capsule(f"{s}_foot", f"{s}_heel", f"{s}_toes", 0.038, "shoe"),
    )
)


def _segment_points(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Capsule end points: points (..., 25, 3) -> (a (..., S, 3), b (..., S, 3))."""
    extra = {
        "head": 0.5 * (points[..., _I["l_ear"], :] + points[..., _I["r_ear"], :]),
        "l_toes": 0.5 * (points[..., _I["l_big_toe"], :] + points[..., _I["l_small_toe"], :]),
        "r_toes": 0.5 * (points[..., _I["r_big_toe"], :] + points[..., _I["r_small_toe"], :]),
    }
    # The back of the head, for hair: away from the nose.
    to_back = extra["head"] - points[..., _I["nose"], :]
    extra["hair"] = extra["head"] + 0.3 * to_back
    get = lambda n: extra[n] if n in extra else points[..., _I[n], :]  # noqa: E731
    a = np.stack([get(s.a) for s in SEGMENTS], axis=-2)
    b = np.stack([get(s.b) for s in SEGMENTS], axis=-2)
    return a, b


def label_colours() -> dict[str, tuple[int, int, int]]:
    """Distinct flat BGR colours per segment name, used by ``RenderStyle(labels=True)``."""
    out = {}
    for k, seg in enumerate(SEGMENTS):
        hue = int(180 * k / len(SEGMENTS))
        hsv = np.uint8([[[hue, 255, 255 if k % 2 else 170]]])
        out[seg.name] = tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
    return out


@dataclass(frozen=True)
class RenderStyle:
    """labels: flat colours per segment on black, no shading or texture (for tests and masks);
    noise: standard deviation of the sensor noise (grey levels); motion_blur: sub-exposures
    averaged per frame (1 = none; the session supplies the sub-frame poses); scale: body radii
    factor (1 for a 1.75 m person); only: names of the segments to draw (default all), e.g.
    for per-segment masks; texture_seed: seed of the skin and cloth texture tiles (the same for
    every camera of a session, so the clothes look alike in all views)."""

    labels: bool = False
    noise: float = 3.0
    motion_blur: int = 1
    scale: float = 1.0
    only: tuple[str, ...] | None = None
    texture_seed: int = 0


def _periodic_noise(rng: np.random.Generator, sigma: tuple[float, float], n: int = _TILE) -> np.ndarray:
    """Tileable smooth noise (n, n) float, zero mean, unit std: white noise low-passed by a Gaussian
    of std ``sigma`` (rows, columns; pixels) in the Fourier domain, so it wraps around seamlessly."""
    f = np.fft.fftfreq(n)
    gain = np.exp(-2 * np.pi**2 * ((f[:, None] * sigma[0]) ** 2 + (f[None, :] * sigma[1]) ** 2))
    out = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, n))) * gain).real
    return (out - out.mean()) / out.std()


@lru_cache(maxsize=8)
def material_textures(seed: int = 0) -> np.ndarray:
    """Brightness factors (M, T, T) float32 around 1, one tileable tile per material of ``_MATERIALS``
    (rows: around the limb, columns: along it). Deterministic for a seed."""
    n = _TILE
    v, u = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")  # v around, u along
    tiles = {}
    for m, name in enumerate(_MATERIALS):
        rng = np.random.default_rng([seed, m])
        grain = _periodic_noise(rng, (0.7, 0.7))
        if name == "skin":  # smooth, slightly blotchy
            tex = 1 + 0.05 * _periodic_noise(rng, (6, 6)) + 0.02 * grain
        elif name == "shirt":  # striped knit: 4 soft stripes per tile (4 cm), fine ribs around, folds
            stripes = 0.5 + 0.5 * np.tanh(3 * np.sin(2 * np.pi * (4 * u / n + rng.uniform())))
            ribs = np.sin(2 * np.pi * 16 * v / n)
            tex = 1 - 0.24 * stripes + 0.05 * ribs + 0.04 * grain + 0.06 * _periodic_noise(rng, (8, 2))
        elif name == "denim":  # diagonal twill, grain and creases across the leg
            twill = np.sin(2 * np.pi * 8 * (u + v) / n)
            tex = 1 + 0.08 * twill + 0.06 * grain + 0.06 * _periodic_noise(rng, (5, 3))
        elif name == "leather":
            tex = 1 + 0.05 * _periodic_noise(rng, (4, 4)) + 0.03 * grain
        else:  # hair: strands, long around (vertical on the sphere), fine along
            tex = 1 + 0.18 * _periodic_noise(rng, (6, 0.6))
        tiles[name] = tex
    out = np.stack([tiles[name] for name in _MATERIALS]).astype(np.float32)
    out.flags.writeable = False  # shared by every renderer of this seed (cached)
    return out


SUBPIXEL = 4  # fractional bits of the fixed-point pixel coordinates OpenCV draws with


def _fixed_point(x: np.ndarray) -> np.ndarray:
    """Pixels -> OpenCV fixed point (1/16 px) int64. Points near a camera's plane project very far:
    they are clipped so that the values fit OpenCV's int32 (NaN -> 0; such primitives are skipped)."""
    return np.round(np.clip(np.nan_to_num(x), -2.0**25, 2.0**25) * (1 << SUBPIXEL)).astype(np.int64)


class Renderer:
    """Renders frames of one camera. points are MV3D25 world coordinates (metres)."""

    def __init__(self, camera: Camera, background: np.ndarray | None = None, style: RenderStyle = RenderStyle(),
                 seed: int = 0):
        self.camera = camera
        self.style = style
        w, h = camera.size
        self.background = np.zeros((h, w, 3), np.uint8) if background is None or style.labels else background
        self._rig = CameraRig([camera])
        rng = np.random.default_rng(seed)
        self._noise = []
        if style.noise > 0 and not style.labels:
            for _ in range(3):  # sensor noise as a saturating add of the positive and a subtract of the negative part
                n = style.noise * rng.standard_normal((h, w, 3), dtype=np.float32)
                self._noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
        self._labels = np.array([label_colours()[seg.name] for seg in SEGMENTS], dtype=float)
        self._textures = material_textures(style.texture_seed)
        names = list(_MATERIALS)
        self._material = np.array([names.index(_MATERIAL_OF[s.colour]) for s in SEGMENTS])
        # Per material: texture pixels per metre, specular strength.
        self._material_table = np.array([(_TILE / p, ks) for p, ks in _MATERIALS.values()], np.float32)

    def _project(self, a: np.ndarray, b: np.ndarray, radius: np.ndarray):
        """Projected capsules: a, b (..., S, 3) -> (pa, pb (..., S, 2), ra, rb (..., S) px, depth (..., S))."""
        cam = self.camera
        za = a @ cam.R[2] + cam.t[2]
        zb = b @ cam.R[2] + cam.t[2]
        uv = self._rig.project(np.stack([a, b]))[0]
        f = 0.5 * (cam.K[0, 0] + cam.K[1, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            ra, rb = f * radius / za, f * radius / zb
        return uv[0], uv[1], ra, rb, 0.5 * (za + zb)

    @staticmethod
    def _shapes(pa, pb, ra, rb):
        """Integer drawing primitives and shading geometry, vectorised over (..., S).

        Returns (centre a (..., S, 2), centre b, radius a (..., S), radius b, quad (..., S, 4, 2)) in
        1/16 px, and the geometry (..., S, 7) float32: a (2), unit axis (2), projected length, radii
        a and b (px, as drawn)."""
        d = pb - pa
        length = np.linalg.norm(d, axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            axis = np.where(length > 1e-6, d / length, [1.0, 0.0])  # a sphere gets the image x axis
        nrm = np.stack([-axis[..., 1], axis[..., 0]], -1)
        fa, fb = np.maximum(ra, 0.5), np.maximum(rb, 0.5)
        quad = np.stack([pa + fa[..., None] * nrm, pb + fb[..., None] * nrm,
                         pb - fb[..., None] * nrm, pa - fa[..., None] * nrm], axis=-2)
        fix = _fixed_point
        prims = (fix(pa), fix(pb), fix(fa), fix(fb), fix(quad).astype(np.int32))
        # Shading uses the radii and ends as OpenCV draws them (1/16 px), so the normals match the mask.
        px = 1.0 / (1 << SUBPIXEL)
        geometry = np.concatenate([prims[0] * px, axis, length, prims[2][..., None] * px, prims[3][..., None] * px],
                                  axis=-1)
        return prims, np.nan_to_num(geometry).astype(np.float32)

    def render(self, persons: list[np.ndarray], palettes: list[dict] | None = None,
               frame_seed: int = 0) -> list[np.ndarray]:
        """Frames (N) of uint8 (h, w, 3) BGR images.

        persons: list of (N, 25, 3) (or (N, B, 25, 3) with B motion-blur sub-exposures) world
        points; a person whose points are NaN in a frame is not drawn there. palettes: one
        colour dict per person (default: the subject's, then passers-by; keys as in ``_PALETTE``).
        """
        n_seg = len(SEGMENTS)
        if len(persons) * n_seg > 254:
            raise InputError(f"the renderer draws at most {254 // n_seg} persons per frame, got {len(persons)}")
        palettes = palettes or [_PALETTE] + [_PASSERBY] * (len(persons) - 1)
        pts = [p if p.ndim == 4 else p[:, None] for p in persons]
        n, blur = pts[0].shape[:2]
        radius = np.array([s.radius for s in SEGMENTS]) * self.style.scale
        people, geometry, colours, extent = [], [], [], []
        for p, palette in zip(pts, palettes):
            a, b = _segment_points(p)  # (N, B, S, 3)
            pa, pb, ra, rb, depth = self._project(a, b, np.broadcast_to(radius, a.shape[:-1]))
            ok = np.isfinite(depth) & (depth > 0) & np.isfinite(pa).all(-1) & np.isfinite(pb).all(-1)
            if self.style.only is not None:
                ok &= np.array([seg.name in self.style.only for seg in SEGMENTS])
            prims, geo = self._shapes(pa, pb, ra, rb)
            people.append((prims, depth, ok))
            # Per label (11 columns): geometry, 3D length (m), radius (m), texture pixels per metre, specular.
            mat = np.broadcast_to(self._material_table[self._material], ok.shape + (2,))
            geometry.append(np.concatenate([geo, np.linalg.norm(b - a, axis=-1)[..., None],
                                            np.broadcast_to(radius[:, None], ok.shape + (1,)), mat], -1))
            palette = {**_PALETTE, **palette}  # colours a palette lacks are the subject's
            colours.append(self._labels if self.style.labels else np.array([palette[s.colour] for s in SEGMENTS]))
            r = np.maximum(ra, rb)[..., None]
            lo = np.where(ok[..., None], np.minimum(pa, pb) - r, np.inf).min(-2)
            hi = np.where(ok[..., None], np.maximum(pa, pb) + r, -np.inf).max(-2)
            extent.append(np.concatenate([lo, hi], -1))  # (N, B, 4) x0, y0, x1, y1 px
        # Label value 1 + person * S + segment; row 0 is the background.
        geometry = np.concatenate([np.zeros(geometry[0].shape[:2] + (1, geometry[0].shape[-1]), np.float32)]
                                  + geometry, axis=2).astype(np.float32)
        colours = np.concatenate(colours).astype(np.float32)
        material = np.concatenate([[0]] + [self._material] * len(pts))
        extent = np.stack(extent)
        w, h = self.camera.size
        lo = np.clip(np.floor(np.nanmin(extent[..., :2], axis=0)) - 3, 0, [w, h]).astype(int)  # 3 px for blurred edges
        hi = np.clip(np.ceil(np.nanmax(extent[..., 2:], axis=0)) + 4, 0, [w, h]).astype(int)
        label = np.zeros((h, w), np.uint8)
        frames = []
        for i in range(n):
            acc = None
            for k in range(blur):
                img = self.background.copy()
                prims = [(depth[i, k, s], person, s) for person, (_, depth, ok) in enumerate(people)
                         for s in np.flatnonzero(ok[i, k])]
                prims.sort(key=lambda x: -x[0])
                for _, person, s in prims:
                    (ca, cb, rad_a, rad_b, quad), _, _ = people[person]
                    value = 1 + person * n_seg + int(s)
                    cv2.circle(label, tuple(ca[i, k, s].tolist()), int(rad_a[i, k, s]), value, -1, cv2.LINE_8, SUBPIXEL)
                    cv2.circle(label, tuple(cb[i, k, s].tolist()), int(rad_b[i, k, s]), value, -1, cv2.LINE_8, SUBPIXEL)
                    cv2.fillConvexPoly(label, quad[i, k, s], value, cv2.LINE_8, SUBPIXEL)
                (x0, y0), (x1, y1) = lo[i, k], hi[i, k]
                if prims and x1 > x0 and y1 > y0:
                    roi = (slice(y0, y1), slice(x0, x1))
                    if self.style.labels:
                        self._paint_labels(img[roi], label[roi], colours)
                    else:
                        self._paint(img[roi], label[roi], (x0, y0), geometry[i, k], colours, material)
                    label[roi] = 0
                acc = img.astype(np.uint16) if acc is None else acc + img
            img = (acc // blur).astype(np.uint8) if blur > 1 else img
            if self._noise:
                pos, neg = self._noise[(frame_seed + i) % len(self._noise)]
                img = cv2.subtract(cv2.add(img, pos), neg)
            frames.append(img)
        return frames

    @staticmethod
    def _paint_labels(img: np.ndarray, label: np.ndarray, colours: np.ndarray) -> None:
        """Flat label colours (L, 3) into img (h, w, 3) where label (h, w) > 0, in place."""
        ys, xs = np.nonzero(label)
        img[ys, xs] = colours[label[ys, xs].astype(np.intp) - 1].astype(np.uint8)

    def _paint(self, img: np.ndarray, label: np.ndarray, origin: tuple[int, int], geometry: np.ndarray,
               colours: np.ndarray, material: np.ndarray) -> None:
        """Shade and texture the labelled pixels of img (h, w, 3) (a view into the frame), in place.

        label (h, w) uint8: 1 + person * S + segment, 0 = background; origin: the view's top-left
        pixel in the frame; geometry (L, 11) per label value (see ``render``); colours (L - 1, 3) BGR;
        material (L,) material index per label value.
        """
        w = label.shape[1]
        flat = np.ascontiguousarray(label).ravel()
        idx = np.flatnonzero(flat)
        lab = flat[idx].astype(np.intp)
        g = [np.take(col, lab) for col in np.ascontiguousarray(geometry.T)]  # 11 x (P,)
        ay, ax = np.divmod(idx, w)
        # Pixel centres relative to end a, in the capsule's (along, across) frame (px).
        rx = ax.astype(np.float32) + np.float32(origin[0]) - g[0]
        ry = ay.astype(np.float32) + np.float32(origin[1]) - g[1]
        along = rx * g[2] + ry * g[3]
        across = ry * g[2] - rx * g[3]
        t = np.clip(along / np.maximum(g[4], 1e-6), 0.0, 1.0)
        inv_r = 1.0 / (g[5] + t * (g[6] - g[5]))
        beyond = along - t * g[4]  # past an end: inside the spherical cap
        cx, cy = beyond * inv_r, across * inv_r  # surface normal's image-plane part, capsule frame
        nz = np.sqrt(np.maximum(1.0 - cx * cx - cy * cy, 0.0))
        nx = cx * g[2] - cy * g[3]
        ny = cx * g[3] + cy * g[2]
        lambert = np.maximum(nx * _LIGHT[0] + ny * _LIGHT[1] + nz * _LIGHT[2], 0.0)
        shade = (_AMBIENT + _DIFFUSE * lambert) * (0.75 + 0.25 * nz)  # plus a little rim darkening
        # Texture coordinates in metres: along the limb (3D length, caps by their radius) and around it (arc).
        u_m = t * g[7] + beyond * (g[8] * inv_r)
        v_m = np.arcsin(np.clip(cy, -1.0, 1.0)) * g[8]
        u = (u_m * g[9] + 64 * _TILE).astype(np.intp) & (_TILE - 1)
        v = (v_m * g[9] + 64 * _TILE).astype(np.intp) & (_TILE - 1)
        shade *= self._textures[material[lab], v, u]
        # Blinn-Phong highlight with exponent 16 (four squarings), scaled per material.
        spec = np.maximum(nx * _HALF[0] + ny * _HALF[1] + nz * _HALF[2], 0.0)
        for _ in range(4):
            spec *= spec
        spec *= g[10]
        bgr = np.take(colours, lab - 1, axis=0) * shade[:, None] + spec[:, None]
        out = img.copy()  # contiguous (h, w, 3)
        out.reshape(-1, 3)[idx] = np.clip(bgr, 0, 255).astype(np.uint8)
        # Anti-aliasing: a 3x3 blur on the pixels next to a label change (silhouette, segment borders).
        edge = cv2.morphologyEx(label, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        np.copyto(out, cv2.GaussianBlur(out, (3, 3), 0), where=edge[..., None])
        img[:] = out
