-- The font families each desktop fingerprint's platform has (`fingerprints.font_list`,
-- present since 0005 and empty until now). The stealth engine makes exactly these findable
-- by name (worker/src/browser/stealth/fonts.rs: installed fonts renamed to them in a
-- fontconfig configuration of the fingerprint's platform), so a font probe reads the claimed
-- platform, not the Linux machine. Lists hold only families the worker can back with an
-- installed font; the Linux fingerprint keeps the machine's own fonts (NULL).
UPDATE fingerprints SET font_list = ARRAY[
    'Arial', 'Calibri', 'Cambria', 'Consolas', 'Courier New', 'Franklin Gothic',
    'Franklin Gothic Medium', 'Georgia', 'Leelawadee', 'Leelawadee UI', 'Lucida Console',
    'Lucida Sans Unicode', 'MS Gothic', 'MS UI Gothic', 'Malgun Gothic', 'Marlett',
    'Microsoft YaHei', 'Palatino Linotype', 'Segoe UI', 'Segoe UI Emoji', 'Segoe UI Light',
    'Sylfaen', 'Symbol', 'Tahoma', 'Times New Roman', 'Verdana', 'Webdings', 'Wingdings',
    'Yu Gothic'
]
WHERE fingerprint_hash = encode(digest('chrome-131-windows-10-en-US', 'sha256'), 'hex')
  AND font_list IS NULL;

UPDATE fingerprints SET font_list = ARRAY[
    'Apple Chancery', 'Apple Color Emoji', 'Apple SD Gothic Neo', 'Arial', 'Arial Narrow',
    'Arial Unicode MS', 'Courier', 'Courier New', 'Geneva', 'Georgia', 'Gill Sans',
    'Helvetica', 'Helvetica Neue', 'Hiragino Sans', 'Lucida Grande', 'Menlo', 'Monaco',
    'Palatino', 'PingFang SC', 'Symbol', 'Tahoma', 'Times', 'Times New Roman', 'Verdana',
    'Zapf Dingbats'
]
WHERE fingerprint_hash = encode(digest('chrome-131-macos-14-en-GB', 'sha256'), 'hex')
  AND font_list IS NULL;
