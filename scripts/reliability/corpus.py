#!/usr/bin/env python3
"""Hostile and awkward uploads, generated here with Pillow (nothing large is shipped), for the
reliability checks in Swift (Tests/RenderServiceTests/Reliability). Each case says what the API
must answer: the status and `error` of the refusal, or for an accepted upload the render's
final status.

  scripts/reliability/corpus.py DIRECTORY   writes each case's file and DIRECTORY/cases.json
"""
import io
import json
import os
import sys
import struct
import subprocess
import zlib

from PIL import Image

# The test photos (scripts/test-photos.sh: no wallpaper package needed).
PHOTOS = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "../test-photos.sh")],
                        capture_output=True, text=True, check=True).stdout.strip()
DUNE = f"{PHOTOS}/dune.jpg"
MB = 1024 * 1024


def read(path):
    with open(path, "rb") as f:
        return f.read()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width, height, idat=zlib.compress(b"\x00" * 16)):
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def wrong_crc(png):
    """The IHDR chunk's CRC (bytes 29-32) inverted."""
    return png[:29] + bytes(b ^ 0xFF for b in png[29:33]) + png[33:]


def png_bomb(side):
    """A greyscale PNG of side x side zero pixels: a few hundred KB that would be side² bytes decoded."""
    row = b"\x00" + b"\x00" * side
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def jpeg_segments(data):
    i = 2
    while i < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        yield marker, i, length
        if marker == 0xDA:
            return
        i += 2 + length


def corrupt_huffman(data):
    """The first Huffman table's 16 code counts set to 255: libjpeg's 'Bogus Huffman table'."""
    out = bytearray(data)
    for marker, offset, _ in jpeg_segments(data):
        if marker == 0xC4:
            out[offset + 5:offset + 21] = b"\xff" * 16
            return bytes(out)
    raise ValueError("no DHT")


def tiff_ifd_chain(count, loop=False):
    """A little-endian 8x8 TIFF whose first IFD is followed by `count` more (or loops back)."""
    pixels = b"\x80" * 64
    entries = [(256, 3, 1, 8), (257, 3, 1, 8), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, 8),
               (277, 3, 1, 1), (278, 3, 1, 8), (279, 4, 1, 64)]
    ifd_size = 2 + 12 * len(entries) + 4
    first = 8 + len(pixels)
    out = bytearray(b"II*\x00" + struct.pack("<I", first) + pixels)
    for index in range(count + 1):
        offset = first + index * ifd_size
        following = offset + ifd_size if index < count else (first if loop else 0)
        out += struct.pack("<H", len(entries))
        for tag, kind, n, value in entries:
            out += struct.pack("<HHII", tag, kind, n, value)
        out += struct.pack("<I", following)
    return bytes(out)


def tiff_claiming(width, height):
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16)]
    out = bytearray(b"II*\x00" + struct.pack("<I", 24) + b"\x00" * 16)
    out += struct.pack("<H", len(entries))
    for tag, kind, n, value in entries:
        out += struct.pack("<HHII", tag, kind, n, value)
    return bytes(out + b"\x00\x00\x00\x00")


def with_gps_and_orientation(data):
    """The photo with EXIF orientation 6 and a GPS position (which no output may carry)."""
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    exif[0x0112] = 6
    exif[0x010F] = "ASO-Test-Camera"  # Make
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def encoded(image, fmt, **options):
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def padded_to(data, size):
    """A valid JPEG followed by zero bytes up to `size` (decoders stop at the end-of-image marker)."""
    return data + b"\x00" * (size - len(data))


def cases():
    """(name, bytes, filename, expected) with expected = (status, error) or ('render', final status)."""
    dune = read(DUNE)
    small = Image.open(io.BytesIO(dune)).convert("RGB").resize((400, 300))
    half = len(dune) // 2
    return [
        ("zero-byte file", b"", "empty.jpg", (400, "Empty file")),
        ("one byte", b"\xff", "x.jpg", (400, "Unsupported image format")),
        ("plain text named .jpg", b"hello, this is not a photo\n" * 20, "photo.jpg", (400, "Unsupported image format")),
        ("HTML page", b"<!doctype html><html><body><script>alert(1)</script></body></html>", "x.html", (400, "Unsupported image format")),
        ("SVG with a script", b'<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><script>alert(1)</script></svg>',
         "x.svg", (400, "Unsupported image format")),
        ("PDF document", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "x.pdf", (400, "Unsupported image format")),
        ("ZIP archive", b"PK\x03\x04" + b"\x00" * 200, "x.zip", (400, "Unsupported image format")),
        ("ELF executable", read("/bin/true")[:4096], "true.jpg", (400, "Unsupported image format")),
        ("JPEG with its magic bytes zeroed", b"\x00\x00" + dune[2:], "photo.jpg", (400, "Unsupported image format")),
        ("JPEG truncated to 2 KB (headers cut)", dune[:2048], "photo.jpg", (400, "Corrupt image")),
        ("JPEG truncated at half (pixels cut)", dune[:half], "photo.jpg", (400, "Corrupt image")),
        ("JPEG with a corrupt Huffman table", corrupt_huffman(dune), "photo.jpg", (400, "Corrupt image")),
        ("PNG header claiming 100000x100000", png_claiming(100000, 100000), "big.png", (400, "Image too large")),
        ("PNG bomb: 20000x20000 of zeros in 0.4 MB", png_bomb(20000), "bomb.png", (400, "Image too large")),
        ("PNG with a broken IDAT stream", png_claiming(200, 100, b"\x78\x9c\xff\xff\xff\xff"), "broken.png", (400, "Corrupt image")),
        ("PNG with a wrong IHDR checksum", wrong_crc(encoded(small, "PNG")), "crc.png", (400, "Corrupt image")),
        # Multi-page TIFFs: the first page is the photo; the chain is never walked to its end.
        ("TIFF with 2000 chained IFDs", tiff_ifd_chain(2000), "deep.tif", ("render", "completed")),
        ("TIFF whose IFD chain loops", tiff_ifd_chain(3, loop=True), "loop.tif", ("render", "completed")),
        ("TIFF header claiming 100000x100000", tiff_claiming(100000, 100000), "big.tif", (400, "Image too large")),
        ("GIF header with HTML after it (polyglot)", b"GIF89a" + b"<html><script>alert(1)</script></html>", "x.gif", (400, "Corrupt image")),
        ("PNG signature with HTML after it (polyglot)", b"\x89PNG\r\n\x1a\n<html>hi</html>", "x.png", (400, "Corrupt image")),
        ("HEIF box with garbage", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00heicmif1" + os.urandom(2000), "x.heic", (400, "Corrupt image")),
        ("JPEG with a ZIP appended (polyglot)", dune + b"PK\x03\x04" + b"\x00" * 500, "photo.jpg", ("render", "completed")),
        ("JPEG with GPS EXIF and orientation 6", with_gps_and_orientation(dune), "gps.jpg", ("render", "completed")),
        ("CMYK JPEG", encoded(small.convert("CMYK"), "JPEG", quality=90), "cmyk.jpg", ("render", "completed")),
        ("16-bit greyscale PNG", encoded(small.convert("I;16"), "PNG"), "deep.png", ("render", "completed")),
        ("1x1 pixel PNG", encoded(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"), "dot.png", ("render", "completed")),
        ("animated GIF (first frame used)", encoded(small.convert("P"), "GIF", save_all=True,
                                                    append_images=[small.convert("P").rotate(90)]), "anim.gif", ("render", "completed")),
        ("progressive WebP truncated", encoded(small, "WEBP")[:300], "cut.webp", (400, "Corrupt image")),
        ("49.9 MB JPEG (under the limit)", padded_to(dune, int(49.9 * MB)), "big.jpg", ("render", "completed")),
        ("50.1 MB upload (over the limit)", padded_to(dune, int(50.1 * MB)), "huge.jpg", (413, "File too large (maximum 50MB)")),
    ]


def write(directory):
    """Each case's bytes in its own file, and cases.json listing them in order."""
    os.makedirs(directory, exist_ok=True)
    manifest = []
    for index, (name, data, filename, (want, detail)) in enumerate(cases()):
        path = os.path.join(directory, f"case-{index:02d}")
        with open(path, "wb") as f:
            f.write(data)
        case = {"name": name, "path": path, "filename": filename}
        case.update({"render": detail} if want == "render" else {"status": want, "error": detail})
        manifest.append(case)
    with open(os.path.join(directory, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    write(sys.argv[1])
