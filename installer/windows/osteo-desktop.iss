; Inno Setup 6 script for Osteo Desktop (Windows x64).
; Built by installer\build.ps1 after PyInstaller:
;   ISCC.exe /DAppVersion=0.1.0 /DSourceDir=..\..\build\installer\app\osteo-desktop installer\windows\osteo-desktop.iss
; Output: dist\osteo-desktop-<version>-windows-x64-setup.exe
; Installs per user by default (no administrator rights); "Install for all users" is offered in a dialog.

#define AppName "Osteo Desktop"
#define AppExe "osteo-desktop.exe"
#define AppConsoleExe "osteo-desktop-console.exe"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\build\installer\app\osteo-desktop"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

[Setup]
AppId={{5C7A3E0B-2F4D-4B8E-9A61-0E5D2C8F7A13}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=osteo-desktop project
AppComments=Screening aid for low bone density on knee and spine radiographs. Not a diagnosis.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
LicenseFile=license.txt
InfoBeforeFile=intended-use.txt
OutputDir={#OutputDir}
OutputBaseFilename=osteo-desktop-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icons\osteo-desktop.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
Uninstallable=yes
Compression=lzma2/normal
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ChangesAssociations=yes
WizardStyle=modern
MinVersion=10.0

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "dicomassoc"; Description: "Open DICOM files (.dcm) with {#AppName}"; GroupDescription: "File association:"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "intended-use.txt"; DestDir: "{app}"; Flags: ignoreversion
Source: "license.txt"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Screen radiographs for low bone density"
Name: "{autoprograms}\{#AppName} self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\{#AppConsoleExe}"" --self-test"; WorkingDir: "{app}"; IconFilename: "{app}\{#AppExe}"; Comment: "Check that the installation works"
Name: "{autoprograms}\{#AppName} intended use"; Filename: "{app}\intended-use.txt"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; Optional .dcm association (task "dicomassoc"): registered as an "Open with" choice and as the
; handler of .dcm files that have none. HKA = per user or all users, as installed.
Root: HKA; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "OsteoDesktop.dcm"; ValueData: ""; Flags: uninsdeletevalue; Tasks: dicomassoc
Root: HKA; Subkey: "Software\Classes\.dcm"; ValueType: string; ValueName: ""; ValueData: "OsteoDesktop.dcm"; Flags: uninsdeletevalue createvalueifdoesntexist; Tasks: dicomassoc
Root: HKA; Subkey: "Software\Classes\OsteoDesktop.dcm"; ValueType: string; ValueName: ""; ValueData: "DICOM image"; Flags: uninsdeletekey; Tasks: dicomassoc
Root: HKA; Subkey: "Software\Classes\OsteoDesktop.dcm\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"; Tasks: dicomassoc
Root: HKA; Subkey: "Software\Classes\OsteoDesktop.dcm\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""; Tasks: dicomassoc
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".dcm"; ValueData: ""; Flags: uninsdeletekey; Tasks: dicomassoc

[Run]
Filename: "{cmd}"; Parameters: "/k ""{app}\{#AppConsoleExe}"" --self-test"; WorkingDir: "{app}"; Description: "Check the installation now (self-test, about a minute)"; Flags: postinstall skipifsilent unchecked nowait
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: postinstall skipifsilent nowait

[UninstallDelete]
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
