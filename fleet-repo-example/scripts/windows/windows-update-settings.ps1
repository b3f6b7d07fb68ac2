<#
.SYNOPSIS
  Windows Update for Business settings for Contoso desktops and kiosks.
.DESCRIPTION
  Quality updates deferred 3 days, feature updates 60 days, installs at 03:00,
  no automatic restart while a user is signed in. Idempotent: only writes values
  that differ. The Script's `check` guard skips the run when everything matches.
#>
$ErrorActionPreference = 'Stop'

$wu = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate'
$au = Join-Path $wu 'AU'
$desired = @(
    @{ Path = $wu; Name = 'DeferQualityUpdates';             Value = 1 },
    @{ Path = $wu; Name = 'DeferQualityUpdatesPeriodInDays'; Value = 3 },
    @{ Path = $wu; Name = 'DeferFeatureUpdates';             Value = 1 },
    @{ Path = $wu; Name = 'DeferFeatureUpdatesPeriodInDays'; Value = 60 },
    @{ Path = $wu; Name = 'SetDisablePauseUXAccess';         Value = 1 },
    @{ Path = $au; Name = 'NoAutoUpdate';                    Value = 0 },
    @{ Path = $au; Name = 'AUOptions';                       Value = 4 },
    @{ Path = $au; Name = 'ScheduledInstallDay';             Value = 0 },
    @{ Path = $au; Name = 'ScheduledInstallTime';            Value = 3 },
    @{ Path = $au; Name = 'NoAutoRebootWithLoggedOnUsers';   Value = 1 }
)

$changed = 0
foreach ($d in $desired) {
    if (-not (Test-Path $d.Path)) { New-Item -Path $d.Path -Force | Out-Null }
    $current = (Get-ItemProperty -Path $d.Path -Name $d.Name -ErrorAction SilentlyContinue).($d.Name)
    if ($current -ne $d.Value) {
        Set-ItemProperty -Path $d.Path -Name $d.Name -Value $d.Value -Type DWord
        Write-Output ("{0}\{1}: {2} -> {3}" -f $d.Path, $d.Name, $current, $d.Value)
        $changed++
    }
}
Write-Output "windows-update-settings: $changed value(s) changed"
exit 0
