# Install every available Windows update through the Windows Update Agent API.
$ErrorActionPreference = 'Stop'
$session  = New-Object -ComObject Microsoft.Update.Session
$searcher = $session.CreateUpdateSearcher()
$result   = $searcher.Search("IsInstalled=0 and IsHidden=0 and Type='Software'")
Write-Output "$($result.Updates.Count) updates available"
if ($result.Updates.Count -eq 0) { exit 0 }
$updates = New-Object -ComObject Microsoft.Update.UpdateColl
foreach ($u in $result.Updates) { $u.AcceptEula(); [void]$updates.Add($u) }
$downloader = $session.CreateUpdateDownloader(); $downloader.Updates = $updates; [void]$downloader.Download()
$installer  = $session.CreateUpdateInstaller();  $installer.Updates  = $updates
$r = $installer.Install()
Write-Output "install result $($r.ResultCode), reboot required: $($r.RebootRequired)"
