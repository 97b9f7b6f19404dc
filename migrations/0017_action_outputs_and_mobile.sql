-- Browser actions and mobile emulation (issue 16, parts 4 and 5).
--
-- What a job's actions gave back (core's `ActionOutputs`: screenshots by their object keys
-- in the screenshots bucket, scrapes' HTML inline, JavaScript return values), stored with
-- the result; NULL for a job without actions.
ALTER TABLE job_results ADD COLUMN action_outputs JSONB;

-- Mobile fingerprints: what a `mobile` job wears (its viewport, pixel ratio and user agent).
-- The stealth engine's desktop disguise never picks these (core's `pg/fingerprints.rs`
-- filters on device_type).
INSERT INTO fingerprints (
    fingerprint_hash, fingerprint_data, browser_type, browser_version, os_type, os_version,
    device_type, screen_width, screen_height, device_pixel_ratio, locale, timezone,
    user_agent, accept_language, navigator_properties, screen_properties, webgl_properties
) VALUES
(
    encode(digest('chrome-131-android-14-pixel-8-en-US', 'sha256'), 'hex'),
    '{"browser": "chrome", "version": 131, "platform": "Linux armv81", "device": "Pixel 8"}',
    'chrome', '131', 'android', '14', 'mobile', 412, 915, 2.63, 'en-US', 'America/New_York',
    'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
    'en-US,en;q=0.9',
    '{"platform": "Linux armv81", "languages": ["en-US", "en"], "hardwareConcurrency": 8, "deviceMemory": 8, "vendor": "Google Inc.", "maxTouchPoints": 5}',
    '{"width": 412, "height": 915, "availWidth": 412, "availHeight": 915, "colorDepth": 24}',
    '{"vendor": "Qualcomm", "renderer": "Adreno (TM) 740"}'
),
(
    encode(digest('chrome-131-android-14-galaxy-s23-en-US', 'sha256'), 'hex'),
    '{"browser": "chrome", "version": 131, "platform": "Linux armv81", "device": "SM-S911B"}',
    'chrome', '131', 'android', '14', 'mobile', 360, 780, 3.00, 'en-US', 'America/New_York',
    'Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
    'en-US,en;q=0.9',
    '{"platform": "Linux armv81", "languages": ["en-US", "en"], "hardwareConcurrency": 8, "deviceMemory": 8, "vendor": "Google Inc.", "maxTouchPoints": 5}',
    '{"width": 360, "height": 780, "availWidth": 360, "availHeight": 780, "colorDepth": 24}',
    '{"vendor": "Qualcomm", "renderer": "Adreno (TM) 740"}'
)
ON CONFLICT (fingerprint_hash) DO NOTHING;
