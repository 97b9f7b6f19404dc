-- Reference data (seed 000 §9.2). The seed's proxy providers carried empty credentials and no
-- endpoints; inserting them active would make workers pick providers that cannot work, so
-- providers are configured by the operator instead. Fingerprints: coherent desktop profiles
-- for the stealth engine.

INSERT INTO fingerprints (
    fingerprint_hash, fingerprint_data, browser_type, browser_version, os_type, os_version,
    device_type, screen_width, screen_height, device_pixel_ratio, locale, timezone,
    user_agent, accept_language, navigator_properties, screen_properties, webgl_properties
) VALUES
(
    encode(digest('chrome-131-windows-10-en-US', 'sha256'), 'hex'),
    '{"browser": "chrome", "version": 131, "platform": "Win32"}',
    'chrome', '131', 'windows', '10', 'desktop', 1920, 1080, 1.00, 'en-US', 'America/New_York',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    'en-US,en;q=0.9',
    '{"platform": "Win32", "languages": ["en-US", "en"], "hardwareConcurrency": 8, "deviceMemory": 8, "vendor": "Google Inc."}',
    '{"width": 1920, "height": 1080, "availWidth": 1920, "availHeight": 1040, "colorDepth": 24}',
    '{"vendor": "Google Inc. (NVIDIA)", "renderer": "ANGLE (NVIDIA, NVIDIA GeForce GTX 1660 SUPER Direct3D11 vs_5_0 ps_5_0, D3D11)"}'
),
(
    encode(digest('chrome-131-macos-14-en-GB', 'sha256'), 'hex'),
    '{"browser": "chrome", "version": 131, "platform": "MacIntel"}',
    'chrome', '131', 'macos', '14', 'desktop', 1440, 900, 2.00, 'en-GB', 'Europe/London',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    'en-GB,en;q=0.9',
    '{"platform": "MacIntel", "languages": ["en-GB", "en"], "hardwareConcurrency": 10, "deviceMemory": 8, "vendor": "Google Inc."}',
    '{"width": 1440, "height": 900, "availWidth": 1440, "availHeight": 875, "colorDepth": 30}',
    '{"vendor": "Google Inc. (Apple)", "renderer": "ANGLE (Apple, ANGLE Metal Renderer: Apple M1, Unspecified Version)"}'
),
(
    encode(digest('chrome-131-linux-de-DE', 'sha256'), 'hex'),
    '{"browser": "chrome", "version": 131, "platform": "Linux x86_64"}',
    'chrome', '131', 'linux', 'x86_64', 'desktop', 1920, 1080, 1.00, 'de-DE', 'Europe/Berlin',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    'de-DE,de;q=0.9,en;q=0.8',
    '{"platform": "Linux x86_64", "languages": ["de-DE", "de", "en"], "hardwareConcurrency": 4, "deviceMemory": 8, "vendor": "Google Inc."}',
    '{"width": 1920, "height": 1080, "availWidth": 1920, "availHeight": 1053, "colorDepth": 24}',
    '{"vendor": "Google Inc. (Intel)", "renderer": "ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)"}'
)
ON CONFLICT (fingerprint_hash) DO NOTHING;
