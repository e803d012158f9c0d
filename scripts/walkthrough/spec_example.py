import requests
import time

API_BASE = "http://localhost:8089"

# Create render
with open("my-photo.jpg", "rb") as f:
    response = requests.post(
        f"{API_BASE}/v1/renders",
        files={"file": f},
        data={
            "style_id": "550e8400-e29b-41d4-a716-446655440000",
            "size_preset_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        }
    )

render_id = response.json()["render_id"]
print(f"Render created: {render_id}")

# Poll for completion
while True:
    status_response = requests.get(f"{API_BASE}/v1/renders/{render_id}")
    status_data = status_response.json()

    print(f"Status: {status_data['status']}")

    if status_data["status"] == "completed":
        break
    elif status_data["status"] == "failed":
        print(f"Render failed: {status_data['error_message']}")
        exit(1)

    time.sleep(5)

# Get download URL
download_response = requests.get(f"{API_BASE}/v1/renders/{render_id}/download")
download_url = download_response.json()["url"]

# Download TIFF
tiff_data = requests.get(download_url).content
with open("output.tiff", "wb") as f:
    f.write(tiff_data)

print("Render downloaded successfully!")
