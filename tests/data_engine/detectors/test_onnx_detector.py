"""ONNX detectors on the real pretrained files in ../shared/models: families recognised, classes kept and renamed,
the engine's decoding equal to the authors' contract, and every bad model file one `error:` line at load."""

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from data_engine.cli import main
from data_engine.detectors.base import DetectorError
from data_engine.detectors.cache import load_detector, source_of
from data_engine.detectors.loading import DetectorOptions, load_entry
from data_engine.detectors.onnx_detector import OnnxDetector, OnnxSpec
from tests.conftest import SAMPLE_VIDEOS

MODELS = SAMPLE_VIDEOS.parent / "models"
TUD = SAMPLE_VIDEOS.parent / "sequences" / "TUD-Campus" / "img1"
needs_models = pytest.mark.skipif(
    not (MODELS / "yolox_nano.onnx").is_file(), reason=f"the pretrained ONNX detectors are not in {MODELS}"
)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [cv2.imread(str(path)) for path in sorted(TUD.glob("*.jpg"))[:8]]


@needs_models
@pytest.mark.parametrize(("name", "family"), [("yolox_nano", "yolox"), ("fastestdet", "fastestdet")])
def test_the_family_is_recognised_from_the_output_and_only_kept_classes_come_out(
    name: str, family: str, frames: list[np.ndarray]
) -> None:
    detector = load_entry(str(MODELS / f"{name}.onnx"), DetectorOptions(conf=0.25, classes=("person",)))
    assert isinstance(detector, OnnxDetector) and detector.family.name == family
    assert detector.names == {0: "person"}
    found = detector.predict(frames)
    assert len(found) == len(frames) and all(len(boxes) for boxes in found)
    assert all(set(boxes.class_id.tolist()) == {0} for boxes in found)
    height, width = frames[0].shape[:2]
    assert all(boxes.xyxy.min() >= 0 and boxes.xyxy[:, 2].max() <= width for boxes in found)
    assert all(boxes.xyxy[:, 3].max() <= height for boxes in found)
    named = load_entry(f"{family}:{MODELS / f'{name}.onnx'}", DetectorOptions(conf=0.25, classes=("person",)))
    assert [len(boxes) for boxes in named.predict(frames)] == [len(boxes) for boxes in found]


@needs_models
def test_classes_are_renamed_by_the_class_map_and_every_coco_class_is_kept_when_none_is_named(
    frames: list[np.ndarray],
) -> None:
    path = MODELS / "yolox_nano.onnx"
    renamed = OnnxDetector(path, classes=("pedestrian",), class_map={"person": "pedestrian"})
    assert renamed.names == {0: "pedestrian"}
    two = OnnxDetector(path, classes=("person", "car"))
    assert two.names == {0: "person", 1: "car"}
    every = OnnxDetector(path, classes=())
    assert len(every.names) == 80
    with pytest.raises(DetectorError, match="none of DATA_ENGINE_CLASSES"):
        OnnxDetector(path, classes=("unicorn",))


@needs_models
def test_a_spec_loads_the_same_detector_once_per_process_and_keys_stored_detections_by_content_and_settings() -> None:
    detector = OnnxDetector(MODELS / "fastestdet.onnx", conf=0.3, classes=("person",))
    spec = source_of(detector)
    assert isinstance(spec, OnnxSpec) and load_detector(spec) is detector
    assert spec.inference_key != OnnxSpec(spec.path, spec.checksum, spec.family, 0.2, None, ("person",)).inference_key
    assert OnnxSpec(spec.path, spec.checksum, spec.family, 0.3, None, ("person",)).load().names == detector.names


def _model(path: Path, input_shape: list[int], output_shape: list[int]) -> Path:
    """A tiny valid ONNX model (a constant output) with the given input and output shapes."""
    value = helper.make_tensor("value", TensorProto.FLOAT, output_shape, np.zeros(output_shape, np.float32).ravel())
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["output"], value=value)],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, output_shape)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _bad_files(tmp_path: Path) -> dict[str, tuple[str, str]]:
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes((MODELS / "yolox_nano.onnx").read_bytes()[:5000])
    return {
        "not a model": (str(text), "corrupt or not an ONNX model"),
        "truncated": (str(truncated), "corrupt or not an ONNX model"),
        "no family fits": (str(_model(tmp_path / "odd.onnx", [1, 3, 64, 64], [1, 7])), "fits no known family"),
        "wrong family named": (f"fastestdet:{MODELS / 'yolox_nano.onnx'}", "fits the fastestdet family"),
        "wrong input": (str(_model(tmp_path / "gray.onnx", [1, 1, 64, 64], [1, 85, 8, 8])), "needs N x 3 x H x W"),
        "missing": (str(tmp_path / "absent.onnx"), "not found"),
        "offline official name": ("yolox_nano.onnx", "cannot be downloaded here (offline)"),
        "text named .pt": (str(_write(tmp_path / "weights.pt", "hello")), "neither Ultralytics weights (.pt) nor"),
        "neither": (str(_write(tmp_path / "model.bin", "hello")), "neither Ultralytics weights (.pt) nor an ONNX"),
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@needs_models
def test_every_bad_model_file_is_one_error_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    for case, (entry, message) in _bad_files(tmp_path).items():  # at load: the evaluation never starts
        monkeypatch.setenv("DATA_ENGINE_DETECTORS", entry)
        result = CliRunner().invoke(main, ["evaluate", str(TUD.parent)])
        lines = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 2 and len(lines) == 1, (case, result.output)
        assert message in lines[0] and "Traceback" not in result.output, (case, lines[0])
