"""Made-up data for trying the notebooks: a synthetic CT phantom with known Hounsfield units, written as DICOM.

Layer: skills. May import nothing from the package (pydicom and numpy only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_demo_ct_series(folder: str | Path, slices: int = 24, size: int = 96) -> Path:
    """Write a synthetic CT phantom series (air, fat, soft tissue, lung, bone in known HU) as DICOM files."""
    import pydicom  # optional for everything else: only the demo writes DICOM
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = generate_uid(), generate_uid()
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    for index in range(slices):
        z = index / max(slices - 1, 1) - 0.5
        hu = np.full((size, size), -1000.0)  # air
        body = (x / 0.45) ** 2 + (y / 0.35) ** 2 <= 1
        hu[body] = -100.0  # subcutaneous fat
        hu[(x / 0.40) ** 2 + (y / 0.30) ** 2 <= 1] = 40.0  # soft tissue
        for side in (-1, 1):  # lungs, shrinking towards the ends of the volume
            lung = ((x - side * 0.17) / (0.14 * (1 - abs(z)))) ** 2 + (y / 0.22) ** 2 <= 1
            hu[lung] = -850.0
        hu[(x ** 2 + (y - 0.24) ** 2) <= 0.03 ** 2] = 1000.0  # vertebral body
        if abs(z) < 0.2:  # a "lesion" in the middle slices, for the model to find (or not)
            hu[((x + 0.17) ** 2 + (y + 0.05) ** 2) <= 0.035 ** 2] = 30.0
        dataset = pydicom.Dataset()
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
        dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset.SOPClassUID, dataset.SOPInstanceUID = CTImageStorage, dataset.file_meta.MediaStorageSOPInstanceUID
        dataset.Modality, dataset.SeriesDescription = "CT", "Synthetic teaching phantom"
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
        dataset.InstanceNumber = index + 1
        dataset.ImagePositionPatient = [0.0, 0.0, float(index * 5)]
        dataset.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        dataset.PixelSpacing, dataset.SliceThickness = [1.0, 1.0], 5.0
        dataset.Rows = dataset.Columns = size
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 12, 11, 0
        dataset.RescaleIntercept, dataset.RescaleSlope = -1024.0, 1.0
        dataset.PixelData = np.clip(hu + 1024, 0, 4095).astype(np.uint16).tobytes()
        dataset.save_as(folder / f"slice_{index + 1:03d}.dcm", enforce_file_format=True)
    return folder
