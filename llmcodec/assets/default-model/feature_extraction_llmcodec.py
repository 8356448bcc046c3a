"""Feature extractor for LLM-Codec: raw audio arrays -> padded `input_values` `(B, 1, L)` + `padding_mask` `(B, L)`."""

from __future__ import annotations

import numpy as np
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.utils import PaddingStrategy, TensorType, logging

logger = logging.get_logger(__name__)

# Integer PCM is scaled by its full-scale value; unsigned 8-bit PCM is centred first.
_INTEGER_FULL_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0, np.dtype(np.int8): 128.0}


class LLMCodecFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns raw mono (or multi-channel, downmixed) audio into model inputs.

    Handling of input, documented and tested:
    - float32 passes through; float64 and other float dtypes are cast to float32;
    - int8 / int16 / int32 PCM is scaled to [-1, 1) by its full-scale value; other integer or bool dtypes raise;
    - a 2-D array is read as `(channels, samples)` and averaged to mono (set `downmix=False` to refuse it);
    - empty audio and NaN / Inf samples raise `ValueError`;
    - float audio beyond [-1, 1] is kept as is but logs a warning with its peak (values in the thousands are
      usually integer PCM cast to float without scaling: divide int16 by 32768);
    - a `sampling_rate` other than `self.sampling_rate` raises `ValueError` (resample first, e.g. with
      `torchaudio.functional.resample`, as the reference does).

    Args:
        feature_size (`int`, defaults to 1): channels of the model input.
        sampling_rate (`int`, defaults to 16000): the rate the model expects.
        padding_value (`float`, defaults to 0.0): value of padded samples.
        hop_length (`int`, defaults to 320): samples per code; used for `pad_to_multiple_of="hop"`.
        downmix (`bool`, defaults to `True`): average `(channels, samples)` input to mono.
    """

    model_input_names = ["input_values", "padding_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        hop_length: int = 320,
        downmix: bool = True,
        **kwargs,
    ):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.hop_length = hop_length
        self.downmix = downmix

    def _to_mono_float32(self, audio, index: int) -> np.ndarray:
        array = np.asarray(audio)
        if array.dtype == object:
            raise TypeError(f"audio item {index} is not a numeric array")
        if array.dtype.kind == "f":
            array = array.astype(np.float32, copy=False)
        elif array.dtype in _INTEGER_FULL_SCALE:
            array = array.astype(np.float32) / _INTEGER_FULL_SCALE[array.dtype]
        elif array.dtype == np.uint8:
            array = (array.astype(np.float32) - 128.0) / 128.0
        else:
            raise TypeError(
                f"audio item {index} has dtype {array.dtype}; expected float audio in [-1, 1] or int8/int16/int32 PCM"
            )
        if array.ndim == 2:
            if not self.downmix:
                raise ValueError(f"audio item {index} has shape {array.shape}; pass mono audio or set downmix=True")
            if array.shape[0] > array.shape[1]:
                raise ValueError(
                    f"audio item {index} has shape {array.shape}; multi-channel audio must be (channels, samples)"
                )
            array = array.mean(axis=0)
        elif array.ndim != 1:
            raise ValueError(f"audio item {index} must be 1-D (samples) or 2-D (channels, samples), got {array.shape}")
        if array.size == 0:
            raise ValueError(f"audio item {index} is empty")
        if not np.isfinite(array).all():
            raise ValueError(f"audio item {index} contains NaN or Inf samples")
        peak = float(np.abs(array).max())
        if peak > 1.0:
            hint = " (integer PCM cast to float without scaling? divide int16 by 32768)" if peak >= 256 else ""
            logger.warning(f"audio item {index} reaches {peak:g}, beyond the [-1, 1] full scale the codec expects{hint}")
        return array

    def __call__(
        self,
        raw_audio,
        padding: bool | str | PaddingStrategy | None = None,
        truncation: bool | None = False,
        max_length: int | None = None,
        pad_to_multiple_of: int | str | None = None,
        return_tensors: str | TensorType | None = None,
        sampling_rate: int | None = None,
    ) -> BatchFeature:
        """
        Args:
            raw_audio: one clip (1-D array, or `(channels, samples)`), or a list of clips.
            padding: as in [`SequenceFeatureExtractor.pad`]; defaults to padding to the longest clip.
            truncation / max_length: truncate clips to `max_length` samples.
            pad_to_multiple_of: an int, or `"hop"` for `hop_length`.
            return_tensors: `"pt"` or `"np"`.
            sampling_rate: rate of `raw_audio`; must equal `self.sampling_rate`.

        Returns:
            [`BatchFeature`] with `input_values` `(B, 1, L)` float32 and `padding_mask` `(B, L)` int32
            (1 = audio, 0 = padding).
        """
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(
                f"The audio was sampled at {sampling_rate} Hz but {self.__class__.__name__} expects "
                f"{self.sampling_rate} Hz; resample it first (e.g. torchaudio.functional.resample)"
            )
        if sampling_rate is None:
            logger.warning(
                "Pass `sampling_rate=` to LLMCodecFeatureExtractor so a wrong rate is caught instead of silently "
                "mis-encoded."
            )
        if padding and truncation:
            raise ValueError("Choose either padding or truncation, not both")
        if padding is None:
            padding = True
        if pad_to_multiple_of == "hop":
            pad_to_multiple_of = self.hop_length

        is_batched = isinstance(raw_audio, (list, tuple)) and len(raw_audio) > 0 and (
            isinstance(raw_audio[0], (np.ndarray, list, tuple)) or hasattr(raw_audio[0], "__array__")
        )
        clips = list(raw_audio) if is_batched else [raw_audio]
        if not clips:
            raise ValueError("no audio given")
        clips = [self._to_mono_float32(clip, i) for i, clip in enumerate(clips)]

        features = BatchFeature({"input_values": clips})
        padded = self.pad(
            features,
            max_length=max_length,
            truncation=truncation,
            padding=padding,
            pad_to_multiple_of=pad_to_multiple_of,
            return_attention_mask=True,
        )
        padded["padding_mask"] = padded.pop("attention_mask")
        padded["input_values"] = [np.asarray(v, dtype=np.float32)[None, :] for v in padded["input_values"]]
        if return_tensors is not None:
            padded = padded.convert_to_tensors(return_tensors)
        return padded


__all__ = ["LLMCodecFeatureExtractor"]
