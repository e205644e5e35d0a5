"""Where ``model.pretrained`` weights come from: a local file, or a timm pretrained tag through the standard caches.

A value is a local file when it looks like a path (a separator, ``~``, a weights suffix, or an existing file);
otherwise it is a timm tag: ``imagenet`` means timm's default pretrained weights for the architecture, any other
tag (``tv_in1k``, ``a1_in1k``, ...) names one of timm's. Tagged weights are fetched the way timm fetches them:
from the Hugging Face hub into its cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``), or, for weights timm only knows by URL, into the torch hub cache
(``$TORCH_HOME/hub/checkpoints``). Downloads happen only when online: with ``HF_HUB_OFFLINE=1`` a missing file
is an error naming the file and the folder it must be in. Face-recognition weights (``vggface2``,
``vggface2-scratch``, ``casia-webface``, or ``TAG:PATH`` for a file the user downloaded) are no timm tag: they are
read by :mod:`oadn.models.face_weights`.
"""

from __future__ import annotations

import os
from pathlib import Path

from oadn.common.downloads import download, hub_checkpoints, offline

#: tags meaning "no pretrained weights"
SCRATCH = ("", "scratch", "none")
#: the tag meaning "timm's default pretrained weights for this architecture"
DEFAULT_TAG = "imagenet"
_WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".tar", ".ckpt", ".npz")
#: file names timm looks for in a Hugging Face repository, in its order
HF_FILENAMES = ("model.safetensors", "pytorch_model.bin")
#: face-recognition pre-training tags (:mod:`oadn.models.face_weights` knows which backbone has which)
FACE_TAGS = ("vggface2", "vggface2-scratch", "casia-webface")


class PretrainedWeightsError(RuntimeError):
    """Tagged pretrained weights that cannot be found or fetched (offline and not cached, unknown tag)."""


def split_face_tag(value: str | Path | None) -> tuple[str, Path | None] | None:
    """(tag, the user's file or None) for a face-recognition value (``vggface2``, ``vggface2:/path/file.pkl``);
    None for any other value."""
    if value is None or isinstance(value, Path):
        return None
    tag, colon, path = str(value).partition(":")
    if tag not in FACE_TAGS:
        return None
    return tag, (Path(path).expanduser() if colon else None)


def pretraining_tag(value: str | Path | None) -> str:
    """What a ``model.pretrained`` value is called in tables: ``scratch``, the tag (``vggface2`` also for the
    ``vggface2:PATH`` form), or a weights file's name."""
    if value is None or str(value).lower() in SCRATCH:
        return "scratch"
    face = split_face_tag(value)
    if face is not None:
        return face[0]
    return Path(str(value)).name if is_local_file(value) else str(value)


def is_local_file(value: str | Path) -> bool:
    """Whether a ``model.pretrained`` value names a local file rather than a tag (a timm or face-recognition
    one; ``vggface2:PATH`` counts as the tag)."""
    if split_face_tag(value) is not None:
        return False
    text = str(value)
    return (
        isinstance(value, Path)
        or os.sep in text
        or "/" in text
        or text.startswith(("~", "."))
        or text.lower().endswith(_WEIGHT_SUFFIXES)
        or Path(text).is_file()
    )


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment defines it now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def timm_name(architecture: str, tag: str) -> str:
    """``architecture.tag`` of a timm model with pretrained weights; ``imagenet`` becomes timm's default tag."""
    from timm.models import get_pretrained_cfg, list_pretrained  # timm takes seconds to import: only when asked

    if tag == DEFAULT_TAG:
        cfg = get_pretrained_cfg(architecture)
        if cfg is None or not (cfg.hf_hub_id or cfg.url):
            raise PretrainedWeightsError(f"timm has no pretrained weights for {architecture!r}")
        return f"{architecture}.{cfg.tag}"
    name = f"{architecture}.{tag}"
    if name not in list_pretrained(f"{architecture}.*"):
        known = ", ".join(n.partition(".")[2] for n in list_pretrained(f"{architecture}.*")[:12]) or "none"
        raise PretrainedWeightsError(f"timm has no pretrained tag {tag!r} for {architecture!r}; tags: {known} "
                                     f"(or {DEFAULT_TAG!r} for timm's default)")
    return name


def fetch_timm_weights(name: str) -> Path:
    """The local file of timm model ``name``'s (``arch.tag``) pretrained weights, downloaded when online."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    if cfg is None:
        raise PretrainedWeightsError(f"timm has no pretrained configuration {name!r}")
    if cfg.hf_hub_id:
        return _from_hf_hub(name, cfg.hf_hub_id, cfg.hf_hub_filename)
    if cfg.url:
        return _from_url(name, cfg.url)
    raise PretrainedWeightsError(f"timm's {name!r} has no download location (hub id or URL)")


def _from_hf_hub(name: str, repo_id: str, filename: str | None) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    cache = hf_cache_dir()
    names = (filename,) if filename else HF_FILENAMES
    for candidate in names:
        try:
            return Path(hf_hub_download(repo_id, candidate, cache_dir=cache, local_files_only=offline()))
        except LocalEntryNotFoundError as error:
            if offline() and candidate != names[-1]:
                continue
            folder = cache / f"models--{repo_id.replace('/', '--')}"
            how = ("downloads are off (HF_HUB_OFFLINE=1)" if offline() else f"the download failed ({error})")
            raise PretrainedWeightsError(
                f"pretrained weights {name}: {names[0]} of https://huggingface.co/{repo_id} is not in the Hugging "
                f"Face cache {folder} and {how}. Fetch it once while online with the same HF_HOME "
                f"(`hf download {repo_id} {names[0]}`), or download "
                f"https://huggingface.co/{repo_id}/resolve/main/{names[0]} and pass "
                f"model.pretrained=/path/to/{names[0]}"
            ) from None
        except EntryNotFoundError:
            continue  # online: the repository has no such file, try timm's next name
    raise PretrainedWeightsError(f"pretrained weights {name}: none of {', '.join(names)} in https://huggingface.co/{repo_id}")


def _from_url(name: str, url: str) -> Path:
    folder = hub_checkpoints()
    path = folder / os.path.basename(url.split("?")[0])
    if path.is_file():
        return path
    if offline():
        raise PretrainedWeightsError(f"pretrained weights {name}: {path.name} is not in the torch hub cache {folder} "
                                     f"and downloads are off (HF_HUB_OFFLINE=1); put {url} there")
    return download(url, path)
