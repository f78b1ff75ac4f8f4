<#
.SYNOPSIS
  Build the osteo-desktop Windows installer: dist\osteo-desktop-<version>-windows-x64-setup.exe

.DESCRIPTION
  powershell -ExecutionPolicy Bypass -File installer\build.ps1 [-Clean] [-VenvOnly] [-NoSetup]

  1. a build venv of its own (build\installer-venv, never the project .venv) from requirements\app.txt
     pinned by requirements\constraints.txt, plus PyInstaller (installer\requirements-build.txt).
     PyPI's torch for Windows is the CPU-only build.
  2. PyInstaller with installer\osteo_desktop.spec (one folder, windowed osteo-desktop.exe plus the
     console twin osteo-desktop-console.exe for --self-test).
  3. Inno Setup 6 (ISCC.exe on PATH or in its default folder) with installer\windows\osteo-desktop.iss;
     without Inno Setup (or with -NoSetup) a .zip of the application folder instead.
  Environment: OSTEO_BUILD_PYTHON (interpreter, default "py -3.11"), OSTEO_REQUIRE_MODEL=1.
#>
param([switch]$Clean, [switch]$VenvOnly, [switch]$NoSetup)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest
$Root = Split-Path -Parent $PSScriptRoot
Set-Location $Root

function Log($msg) { Write-Host "build.ps1: $msg" }
function Invoke-Checked([string]$exe, [string[]]$argv) {
  & $exe @argv
  if ($LASTEXITCODE -ne 0) { throw "build.ps1: '$exe $($argv -join ' ')' failed with exit code $LASTEXITCODE" }
}

$Version = (Select-String -Path "osteo_desktop\__init__.py" -Pattern '^__version__ = "(.*)"').Matches[0].Groups[1].Value
$Venv = if ($env:OSTEO_BUILD_VENV) { $env:OSTEO_BUILD_VENV } else { Join-Path $Root "build\installer-venv" }
$Py = Join-Path $Venv "Scripts\python.exe"
$Build = Join-Path $Root "build\installer"
$Name = "osteo-desktop-$Version-windows-x64"

$stampFiles = "requirements\app.txt", "requirements\constraints.txt", "installer\requirements-build.txt"
$stamp = (Get-FileHash -Algorithm SHA256 -InputStream ([IO.MemoryStream]::new([Text.Encoding]::UTF8.GetBytes(
  ($stampFiles | ForEach-Object { Get-Content -Raw $_ }) -join "")))).Hash.Substring(0, 16)
$stampFile = Join-Path $Venv ".osteo-build-stamp"

if ($Clean -or -not (Test-Path $Py) -or -not (Test-Path $stampFile) -or ((Get-Content -Raw $stampFile).Trim() -ne $stamp)) {
  if (Test-Path $Venv) { Remove-Item -Recurse -Force $Venv }
  Log "creating build venv $Venv (downloads torch & co.; takes a while)"
  if ($env:OSTEO_BUILD_PYTHON) { Invoke-Checked $env:OSTEO_BUILD_PYTHON @("-m", "venv", $Venv) }
  else { Invoke-Checked "py" @("-3.11", "-m", "venv", $Venv) }
  $pip = @("-m", "pip", "--disable-pip-version-check", "-q")
  Invoke-Checked $Py ($pip + @("install", "-c", "requirements\constraints.txt", "-r", "requirements\app.txt", "-r", "installer\requirements-build.txt"))
  # grad-cam asks for opencv-python (with its own Qt plugins); we ship opencv-python-headless.
  Invoke-Checked $Py ($pip + @("install", "--no-deps", "-c", "requirements\constraints.txt", "grad-cam"))
  & $Py -m pip show opencv-python *> $null
  if ($LASTEXITCODE -eq 0) { Invoke-Checked $Py ($pip + @("uninstall", "-y", "opencv-python")) }
  Set-Content -Path $stampFile -Value $stamp
} else {
  Log "reusing build venv $Venv"
}
if ($VenvOnly) { exit 0 }

if (-not (Test-Path "model_weights\config.json")) {
  if ($env:OSTEO_REQUIRE_MODEL -eq "1") { throw "build.ps1: model_weights\ holds no model bundle and OSTEO_REQUIRE_MODEL=1" }
  Log "WARNING: model_weights\ holds no model bundle: the app will report 'no bundled model'"
}

if ($Clean -and (Test-Path $Build)) { Remove-Item -Recurse -Force $Build }
New-Item -ItemType Directory -Force -Path $Build, "dist" | Out-Null
Log "running PyInstaller (output in $Build\app)"
Invoke-Checked $Py @("-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
  "--distpath", "$Build\app", "--workpath", "$Build\work", "installer\osteo_desktop.spec")
$AppDir = Join-Path $Build "app\osteo-desktop"

Log "self-test of the built application"
& (Join-Path $AppDir "osteo-desktop-console.exe") --self-test
Log "self-test exit code: $LASTEXITCODE (3 = no bundled model)"

$Iscc = Get-Command "ISCC.exe" -ErrorAction SilentlyContinue
if (-not $Iscc) {
  foreach ($p in "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe", "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe") {
    if ($p -and (Test-Path $p)) { $Iscc = Get-Item $p; break }
  }
}
if ($Iscc -and -not $NoSetup) {
  $iscc = if ($Iscc -is [System.Management.Automation.CommandInfo]) { $Iscc.Source } else { $Iscc.FullName }
  Invoke-Checked $iscc @("/Q", "/DAppVersion=$Version", "/DSourceDir=$AppDir", "/DOutputDir=$Root\dist", "installer\windows\osteo-desktop.iss")
  $out = Join-Path $Root "dist\$Name-setup.exe"
} else {
  if (-not $NoSetup) { Log "Inno Setup 6 not found (winget install JRSoftware.InnoSetup); making a .zip instead" }
  $out = Join-Path $Root "dist\$Name.zip"
  if (Test-Path $out) { Remove-Item -Force $out }
  Compress-Archive -Path $AppDir -DestinationPath $out
}
$size = "{0:N0} MB" -f ((Get-Item $out).Length / 1MB)
$appSize = "{0:N0} MB" -f ((Get-ChildItem -Recurse -File $AppDir | Measure-Object -Property Length -Sum).Sum / 1MB)
Log "application folder: $appSize   artifact: $out ($size)"
