"""Made-up data for trying the notebooks: synthetic CT phantoms with known Hounsfield units, written as DICOM.

Two series of one made-up chest (air, fat, soft tissue, lungs, a vertebral body), each with one soft-tissue
nodule (30 HU) in the patient's right lung, drawn as a sphere in millimetres so its extent along the body follows
the slice spacing, as on a real scan:

- `write_demo_ct_series`: 24 slices 5 mm apart; a 10 mm nodule centred between the two middle slices, so it shows
  on exactly two of them (a 50 mm "nodule" spanning ten slices would be a vessel, not a nodule).
- `write_thin_slice_ct_series`: 200 slices 1.5 mm apart, more than the 85 MedGemma is sent. A 4 mm nodule sits
  in the widest gap between the slices uniform sampling sends, so the model never sees it: `thin_slice_lesion`
  says on which instance numbers it lies.

Layer: skills. May import: dicom (for the sampling the nodule must fall between).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dicom import MAX_SLICES, sample_slice_indices

FIELD_OF_VIEW_MM = 360.0  # the phantom's square field of view: a chest about 32 cm wide, as on a real scan
NODULE_HU = 30.0
# Where the nodule lies in the axial plane, as fractions of the field of view from its centre: on the image's
# left, which is the patient's right (radiological convention).
NODULE_X, NODULE_Y = -0.17, -0.05
DEMO_SLICES, DEMO_SPACING_MM, DEMO_NODULE_MM = 24, 5.0, 10.0
THIN_SLICES, THIN_SPACING_MM = 200, 1.5


def _anatomy(size: int, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One axial slice of the made-up chest in HU, at z from -0.5 (one end of the volume) to 0.5; and the grid."""
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    hu = np.full((size, size), -1000.0)  # air
    hu[(x / 0.45) ** 2 + (y / 0.35) ** 2 <= 1] = -100.0  # subcutaneous fat
    hu[(x / 0.40) ** 2 + (y / 0.30) ** 2 <= 1] = 40.0  # soft tissue
    for side in (-1, 1):  # lungs, shrinking towards the ends of the volume
        lung = ((x - side * 0.17) / (0.14 * (1 - abs(z)))) ** 2 + (y / 0.22) ** 2 <= 1
        hu[lung] = -850.0
    hu[(x ** 2 + (y - 0.24) ** 2) <= 0.03 ** 2] = 1000.0  # vertebral body
    return hu, x, y


def _write(folder: str | Path, slices: int, size: int, spacing_mm: float, nodule_centre_mm: float,
           nodule_mm: float, description: str) -> Path:
    """Write the phantom, one DICOM file per slice, with the nodule a sphere of nodule_mm around nodule_centre_mm."""
    import pydicom  # optional for everything else: only the demo writes DICOM
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    if slices < 1 or size < 8:
        raise ValueError(f"A phantom needs at least 1 slice and 8 pixels a side, not {slices} and {size}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = generate_uid(), generate_uid()
    pixel_mm = FIELD_OF_VIEW_MM / size
    radius_mm = nodule_mm / 2
    for index in range(slices):
        z_mm = index * spacing_mm
        hu, x, y = _anatomy(size, index / max(slices - 1, 1) - 0.5)
        # The sphere's cross-section on this slice: a disc whose radius shrinks with the distance from its centre.
        across = radius_mm ** 2 - (z_mm - nodule_centre_mm) ** 2
        if across > 0:
            in_disc = ((x - NODULE_X) ** 2 + (y - NODULE_Y) ** 2) * FIELD_OF_VIEW_MM ** 2 <= across
            in_disc[_nodule_pixel(size)] = True  # at least its centre pixel, however fine the grid
            hu[in_disc] = NODULE_HU
        dataset = pydicom.Dataset()
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
        dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset.SOPClassUID, dataset.SOPInstanceUID = CTImageStorage, dataset.file_meta.MediaStorageSOPInstanceUID
        dataset.Modality, dataset.SeriesDescription = "CT", description
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
        dataset.InstanceNumber = index + 1
        dataset.ImagePositionPatient = [0.0, 0.0, float(z_mm)]
        dataset.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        dataset.PixelSpacing, dataset.SliceThickness = [pixel_mm, pixel_mm], float(spacing_mm)
        dataset.Rows = dataset.Columns = size
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 12, 11, 0
        dataset.RescaleIntercept, dataset.RescaleSlope = -1024.0, 1.0
        dataset.PixelData = np.clip(hu + 1024, 0, 4095).astype(np.uint16).tobytes()
        dataset.save_as(folder / f"slice_{index + 1:03d}.dcm", enforce_file_format=True)
    return folder


def _nodule_pixel(size: int) -> tuple[int, int]:
    """(row, column) of the pixel holding the nodule's centre."""
    return int((NODULE_Y + 0.5) * size), int((NODULE_X + 0.5) * size)


def write_demo_ct_series(folder: str | Path, slices: int = DEMO_SLICES, size: int = 192) -> Path:
    """Write the 5 mm phantom: its 10 mm nodule, centred between the two middle slices, shows on exactly two."""
    centre = (slices - 1) / 2 * DEMO_SPACING_MM  # the middle of the volume: between two slices when slices is even
    return _write(folder, slices, size, DEMO_SPACING_MM, centre, DEMO_NODULE_MM, "Synthetic teaching phantom, 5 mm")


def demo_lesion(slices: int = DEMO_SLICES) -> list[int]:
    """The instance numbers on which the 5 mm phantom's nodule shows."""
    centre = (slices - 1) / 2 * DEMO_SPACING_MM
    return [index + 1 for index in range(slices)
            if abs(index * DEMO_SPACING_MM - centre) < DEMO_NODULE_MM / 2]


def thin_slice_lesion(slices: int = THIN_SLICES, max_slices: int = MAX_SLICES) -> tuple[float, float, list[int]]:
    """(centre in mm, diameter in mm, instance numbers) of a nodule lying wholly between the slices sampled.

    The widest gap between two consecutive sampled slices nearest the middle of the volume holds the nodule; its
    diameter is 90% of that gap, so no sampled slice cuts it.
    """
    sent = sample_slice_indices(slices, max_slices)
    if len(sent) == slices:
        raise ValueError(f"With {slices} slices and max_slices={max_slices} every slice is sent, so no nodule can "
                         "fall between them; use more slices than max_slices.")
    gaps = sorted(zip(sent, sent[1:]), key=lambda pair: (-(pair[1] - pair[0]), abs(pair[0] + pair[1] - slices)))
    first, last = gaps[0]
    centre = (first + last) / 2 * THIN_SPACING_MM
    diameter = 0.9 * (last - first) * THIN_SPACING_MM
    on = [index + 1 for index in range(first + 1, last) if abs(index * THIN_SPACING_MM - centre) < diameter / 2]
    return centre, diameter, on


def write_thin_slice_ct_series(folder: str | Path, slices: int = THIN_SLICES, size: int = 256,
                               max_slices: int = MAX_SLICES) -> Path:
    """Write the 1.5 mm phantom: more slices than are sent, its small nodule wholly between two sent slices."""
    centre, diameter, _ = thin_slice_lesion(slices, max_slices)
    return _write(folder, slices, size, THIN_SPACING_MM, centre, diameter, "Synthetic thin-slice phantom, 1.5 mm")
