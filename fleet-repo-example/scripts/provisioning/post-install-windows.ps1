<#
.SYNOPSIS
  WinPE step after apply-image / install-agent: OEM information and power settings
  for the freshly applied Windows volume, before the first reboot.
#>
$ErrorActionPreference = 'Stop'

# The applied OS volume: the drive with \Windows\System32\config\SOFTWARE that is not X: (WinPE).
$os = Get-PSDrive -PSProvider FileSystem |
    Where-Object { $_.Name -ne 'X' -and (Test-Path "$($_.Root)Windows\System32\config\SOFTWARE") } |
    Select-Object -First 1
if (-not $os) { Write-Error 'no applied Windows volume found'; exit 1 }
$root = $os.Root
Write-Output "offline Windows volume: $root"

# Load the offline SOFTWARE hive and write OEM support information.
reg.exe load 'HKLM\OFFLINE_SOFTWARE' "$root\Windows\System32\config\SOFTWARE" | Out-Null
try {
    $oem = 'HKLM:\OFFLINE_SOFTWARE\Microsoft\Windows\CurrentVersion\OEMInformation'
    New-Item -Path $oem -Force | Out-Null
    Set-ItemProperty -Path $oem -Name 'Manufacturer' -Value 'Contoso IT'
    Set-ItemProperty -Path $oem -Name 'SupportPhone' -Value '+31 20 555 0100'
    Set-ItemProperty -Path $oem -Name 'SupportURL'   -Value 'https://servicedesk.corp.contoso.example'
    Set-ItemProperty -Path $oem -Name 'SupportHours' -Value 'Mon-Fri 08:00-18:00 CET'
} finally {
    [gc]::Collect()
    reg.exe unload 'HKLM\OFFLINE_SOFTWARE' | Out-Null
}

# Make sure the agent service starts automatically on first boot.
reg.exe load 'HKLM\OFFLINE_SYSTEM' "$root\Windows\System32\config\SYSTEM" | Out-Null
try {
    $svc = 'HKLM:\OFFLINE_SYSTEM\ControlSet001\Services\DeployXAgent'
    if (Test-Path $svc) { Set-ItemProperty -Path $svc -Name 'Start' -Value 2 -Type DWord }
    else { Write-Warning 'DeployXAgent service not found in the offline image' }
} finally {
    [gc]::Collect()
    reg.exe unload 'HKLM\OFFLINE_SYSTEM' | Out-Null
}
exit 0
